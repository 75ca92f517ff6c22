import { encodingFromMetadata } from '../codec/index.ts';
import { isWalshipError } from '../errors.ts';
import type { ObjectInfo } from '../storage/driver.ts';
import { SYSTEM_ID_METADATA, metadataValue } from './layout.ts';
import type { WalArchive } from './push.ts';
import { LONG_HEADER_BYTES, parseSegmentHeader, type SegmentHeader } from './segment-header.ts';

// Which database system an archived segment belongs to: walship records it
// as metadata; for objects without it (WAL-G's, older walship's) the first
// page is decoded. Undefined when that cannot be done here (encrypted, and
// only the public key configured).

/** The archived segment's first page header, decoded; undefined without the private key. */
export async function archivedSegmentHeader(archive: WalArchive, info: ObjectInfo, name: string): Promise<SegmentHeader | undefined> {
  const { body, info: got } = await archive.store.get(info.key);
  const decoded = archive.codec.decode(body, encodingFromMetadata(info.key, got.metadata, archive.encryptedByDefault));
  try {
    const chunks: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of decoded) {
      chunks.push(chunk as Buffer);
      bytes += (chunk as Buffer).length;
      if (bytes >= LONG_HEADER_BYTES) break;
    }
    return parseSegmentHeader(Buffer.concat(chunks), name);
  } catch (err) {
    if (isWalshipError(err, 'CRYPTO_NEEDS_PRIVATE_KEY')) return undefined;
    throw err;
  } finally {
    decoded.destroy();
    body.destroy();
  }
}

export async function archivedSystemIdentifier(archive: WalArchive, found: ObjectInfo, name: string): Promise<string | undefined> {
  const info = found.metadata ? found : ((await archive.store.stat(found.key)) ?? found);
  const recorded = metadataValue(info, SYSTEM_ID_METADATA);
  if (recorded !== undefined) return recorded;
  return (await archivedSegmentHeader(archive, info, name))?.systemIdentifier.toString();
}
