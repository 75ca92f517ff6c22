// OpenPGP keys for tests, generated with openpgp.js in the forms walship
// supports (v4 RSA and legacy curve25519), plus a v6 key it must refuse.

import { generateKey, readKey } from 'openpgp';

export type TestKeyKind = 'rsa2048' | 'rsa3072' | 'curve25519Legacy' | 'v6';

export interface TestKey {
  kind: TestKeyKind;
  armoredPrivate: string;
  armoredPublic: string;
  passphrase: string | undefined;
  email: string;
  /** Hex IDs of the primary key and its subkeys. */
  keyIds: string[];
}

export interface TestKeyOptions {
  passphrase?: string;
  /** Generate with aeadProtect, so the key advertises AEAD (SEIPDv2) support. */
  advertiseAead?: boolean;
}

export async function generateTestKey(kind: TestKeyKind, options: TestKeyOptions = {}): Promise<TestKey> {
  const { passphrase, advertiseAead = false } = options;
  const email = `${kind}-${Math.random().toString(36).slice(2, 8)}@walship.test`;
  const common = {
    userIDs: [{ name: `walship test ${kind}`, email }],
    format: 'armored' as const,
    config: { aeadProtect: advertiseAead, v6Keys: kind === 'v6' },
    ...(passphrase === undefined ? {} : { passphrase }),
  };
  const pair =
    kind === 'v6'
      ? await generateKey({ ...common, type: 'curve25519' })
      : kind === 'curve25519Legacy'
        ? await generateKey({ ...common, type: 'ecc', curve: 'curve25519Legacy' })
        : await generateKey({ ...common, type: 'rsa', rsaBits: kind === 'rsa2048' ? 2048 : 3072 });
  const key = await readKey({ armoredKey: pair.publicKey });
  return {
    kind,
    armoredPrivate: pair.privateKey,
    armoredPublic: pair.publicKey,
    passphrase,
    email,
    keyIds: key.getKeyIDs().map((id) => id.toHex()),
  };
}
