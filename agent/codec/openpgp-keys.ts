// Reads the configured OpenPGP key once, when the codec is created: parsing
// and unlocking a key costs milliseconds (an RSA passphrase's S2K far more),
// which would dominate per-object work on small WAL files.

import { SecretKeyPacket, SecretSubkeyPacket, decryptKey, readKey, type Key, type PrivateKey, type PublicKey } from 'openpgp';
import type { PgpConfig } from '../config/types.ts';
import { WalshipError } from '../errors.ts';

export interface PgpKeys {
  /** The public key objects are encrypted to. */
  encryptionKey: PublicKey;
  /** The unlocked private key, when one is configured and usable. */
  decryptionKey: PrivateKey | undefined;
  /** Why there is no decryption key, for the error a decode raises. */
  noDecryptionKeyReason: string;
  /** Hex IDs of the key and its subkeys: for messages, never secret. */
  keyIds: string[];
}

export async function loadPgpKeys(config: PgpConfig): Promise<PgpKeys> {
  const key = await parseKey(config.armoredKey);
  const keyIds = key.getKeyIDs().map((id) => id.toHex());
  // gpg 2.2 (Debian 12) cannot read v6 keys, nor messages encrypted to them;
  // archives must stay readable with the distribution's gpg.
  if (key.keyPacket.version !== 4) {
    throw new WalshipError(
      'CRYPTO_KEY_INVALID',
      `the OpenPGP key ${keyIds[0]} is a v${key.keyPacket.version} key; walship needs a v4 key (RSA, or curve25519 "legacy" ECC) so that gpg 2.2 can read the archive`,
      { details: { keyIds } },
    );
  }
  try {
    await key.getEncryptionKey();
  } catch (err) {
    throw new WalshipError('CRYPTO_KEY_INVALID', `the OpenPGP key ${keyIds[0]} has no usable encryption key (expired, revoked, or signing-only?)`, {
      cause: err,
      details: { keyIds },
    });
  }
  const encryptionKey = key.toPublic();
  if (!key.isPrivate()) {
    return { encryptionKey, decryptionKey: undefined, noDecryptionKeyReason: `the configured key ${keyIds[0]} is a public key`, keyIds };
  }
  let decryptionKey: PrivateKey = key;
  if (!key.isDecrypted()) {
    if (config.passphrase === undefined) {
      // Encrypting needs only the public part; decoding will say what is missing.
      return {
        encryptionKey,
        decryptionKey: undefined,
        noDecryptionKeyReason: `the private key ${keyIds[0]} is passphrase-protected and no passphrase is configured`,
        keyIds,
      };
    }
    try {
      decryptionKey = await decryptKey({ privateKey: key, passphrase: config.passphrase });
    } catch (err) {
      throw new WalshipError('CRYPTO_KEY_INVALID', `cannot unlock the private key ${keyIds[0]}: wrong passphrase?`, { cause: err, details: { keyIds } });
    }
  }
  await validateSecretParts(decryptionKey, keyIds);
  return { encryptionKey, decryptionKey, noDecryptionKeyReason: '', keyIds };
}

/**
 * Armor carries no enforced checksum, so damaged secret material parses
 * fine and would only fail, obscurely, at the first restore. Each secret
 * (sub)key is checked against its public part now; openpgp.js's own
 * validate() checks only the signing key, not the decryption subkey.
 */
async function validateSecretParts(key: PrivateKey, keyIds: string[]): Promise<void> {
  try {
    for (const { keyPacket } of key.getKeys()) {
      if (keyPacket instanceof SecretKeyPacket || keyPacket instanceof SecretSubkeyPacket) {
        if (!keyPacket.isDummy()) await keyPacket.validate();
      }
    }
  } catch (err) {
    throw new WalshipError('CRYPTO_KEY_INVALID', `the private key ${keyIds[0]} is damaged: its secret part does not match its public part`, {
      cause: err,
      details: { keyIds },
    });
  }
}

async function parseKey(armoredKey: string): Promise<Key> {
  try {
    return await readKey({ armoredKey });
  } catch (err) {
    // openpgp's message names the parsing problem, never the key's content.
    throw new WalshipError('CRYPTO_KEY_INVALID', `the configured OpenPGP key cannot be read: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
}
