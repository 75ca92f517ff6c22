import { Readable } from 'node:stream';
import { WalshipError } from '../errors.ts';
import type { StorageDriver } from '../storage/driver.ts';
import type { SegmentHeader } from './segment-header.ts';

// The archive remembers which cluster it belongs to, from the first segment
// ever pushed, so that a second cluster pointed at the same prefix by
// mistake is refused instead of interleaving its WAL with ours.

export const IDENTITY_KEY = 'walship/cluster.json';

interface IdentityRecord {
  systemIdentifier: string;
  pgVersion: number;
  segmentSize: number;
  firstSegment: string;
  recordedAt: string;
}

export class ClusterIdentity {
  private readonly store: StorageDriver;
  private known: IdentityRecord | undefined;

  constructor(store: StorageDriver) {
    this.store = store;
  }

  private async load(signal?: AbortSignal): Promise<IdentityRecord | undefined> {
    if (this.known) return this.known;
    try {
      const { body } = await this.store.get(IDENTITY_KEY, signal ? { signal } : {});
      const chunks: Buffer[] = [];
      for await (const c of body) chunks.push(c as Buffer);
      this.known = JSON.parse(Buffer.concat(chunks).toString('utf8')) as IdentityRecord;
      return this.known;
    } catch (err) {
      if (err instanceof WalshipError && err.code === 'STORE_NOT_FOUND') return undefined;
      throw err;
    }
  }

  /** The WAL segment size the archive's first segment had, when the archive recorded one. */
  async segmentSize(signal?: AbortSignal): Promise<number | undefined> {
    return (await this.load(signal))?.segmentSize;
  }

  /** The database system the archive belongs to, when it recorded one. */
  async systemIdentifier(signal?: AbortSignal): Promise<string | undefined> {
    return (await this.load(signal))?.systemIdentifier;
  }

  /** Records the identity at the first push; afterwards refuses any other system identifier. */
  async check(header: SegmentHeader, segmentName: string, signal?: AbortSignal): Promise<void> {
    let record = await this.load(signal);
    if (!record) {
      const candidate: IdentityRecord = {
        systemIdentifier: header.systemIdentifier.toString(),
        pgVersion: header.pgVersion,
        segmentSize: header.segmentSize,
        firstSegment: segmentName,
        recordedAt: new Date().toISOString(),
      };
      const body = Buffer.from(JSON.stringify(candidate, null, 2));
      // Two first pushes may race: whoever loses reads the winner's record.
      if (await this.store.putIfAbsent(IDENTITY_KEY, () => Readable.from([body]), { contentLength: body.length, ...(signal ? { signal } : {}) })) this.known = candidate;
      record = await this.load(signal);
      if (!record) throw new WalshipError('INTERNAL', `${IDENTITY_KEY} vanished right after it was written`);
    }
    if (record.systemIdentifier !== header.systemIdentifier.toString()) {
      throw new WalshipError(
        'WAL_FOREIGN_CLUSTER',
        `${segmentName} belongs to database system ${header.systemIdentifier}, but this archive (${this.store.location}) belongs to system ${record.systemIdentifier} (recorded at ${record.firstSegment}); refusing to mix two clusters' WAL in one prefix — give this cluster its own prefix`,
        { details: { segment: segmentName, systemIdentifier: header.systemIdentifier.toString(), archiveSystemIdentifier: record.systemIdentifier } },
      );
    }
  }
}
