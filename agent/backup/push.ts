import { open } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { extensionFor } from '../codec/index.ts';
import type { Config } from '../config/types.ts';
import { WalshipError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { connectPg } from '../pg/connection.ts';
import { serverFacts, startBackup, stopBackup, type ServerFacts } from '../pg/backup-session.ts';
import type { StorageDriver } from '../storage/driver.ts';
import { listAll } from '../storage/list.ts';
import { archivedSystemIdentifier } from '../wal/archived-identity.ts';
import { findArchived } from '../wal/layout.ts';
import { formatLsn, segmentNameForLsn } from '../wal/names.ts';
import type { WalArchive } from '../wal/push.ts';
import { writeManifest, writeSentinel } from './catalog.ts';
import { backupDir, backupName, manifestKey, sentinelKey } from './layout.ts';
import { MANIFEST_FORMAT, sentinelOf, type BackupManifest, type BackupSentinel } from './manifest.ts';
import { PartWorkers } from './part-workers.ts';
import { partition } from './partition.ts';
import { pushParts } from './push-parts.ts';
import { scanDataDirectory } from './scan.ts';

// backup-push: an online base backup through non-exclusive backup mode,
// files streamed from disk through the codec to the store in parallel
// parts. The sentinel is written last, and only once the WAL the backup
// needs is in the store: a backup that cannot be restored is never listed.

export interface BackupPushOptions {
  pgdata: string;
  permanent: boolean;
  userData?: unknown;
  verify: boolean;
  /** Bytes of file data per part, before compression. */
  partBytes: number;
  /** How long to wait for the backup's last WAL segment to reach the store. */
  walTimeoutMs: number;
  onProgress?: (done: number, total: number) => void;
}

const PG_CONTROL_SIZE = 8192;

/** server_version_num to the major version a segment's page magic names (150018 -> 15). */
function majorVersion(versionNum: number): number {
  return Math.floor(versionNum / 10000);
}

async function readPgControl(pgdata: string): Promise<Buffer> {
  const handle = await open(join(pgdata, 'global', 'pg_control'), 'r').catch((err: unknown) => {
    throw new WalshipError('IO_FAILED', `${pgdata} is not a PostgreSQL data directory: cannot read global/pg_control (${(err as { code?: string }).code ?? String(err)})`, { cause: err });
  });
  try {
    const buf = Buffer.alloc(PG_CONTROL_SIZE);
    const { bytesRead } = await handle.read(buf, 0, PG_CONTROL_SIZE, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

function warnAboutArchiving(facts: ServerFacts, log: Logger): void {
  const archiving = facts.archiveMode === 'always' || (facts.archiveMode === 'on' && !facts.inRecovery);
  if (facts.archiveMode === 'off') {
    log.warn('archive_mode is off: this backup cannot be restored unless its WAL reaches the store some other way; set archive_mode = on and archive_command to walship');
  } else if (archiving && !/walship/.test(facts.archiveCommand)) {
    log.warn({ archiveCommand: facts.archiveCommand }, 'archive_command does not call walship: make sure it archives into the same store, or this backup cannot be restored');
  }
}

async function uniqueName(store: StorageDriver, base: string): Promise<string> {
  for (let n = 1; ; n++) {
    const name = n === 1 ? base : `${base}_${n}`;
    const taken = (await store.listPage(backupDir(name), { pageSize: 1 })).objects.length > 0 || (await store.stat(sentinelKey(name))) !== undefined;
    if (!taken) return name;
  }
}

async function waitForWal(archive: WalArchive, walFile: string, systemIdentifier: string, timeoutMs: number, log: Logger): Promise<void> {
  const store = archive.store;
  const deadline = Date.now() + timeoutMs;
  // The segment usually lands a few hundred milliseconds after the stop: look often at first.
  let delay = 50;
  for (;;) {
    const found = await findArchived(store, walFile);
    if (found) {
      // A segment of that name from another cluster would make the backup unrestorable.
      const owner = await archivedSystemIdentifier(archive, found, walFile);
      if (owner === undefined) log.warn({ walFile, key: found.key }, 'the backup end segment is encrypted and only the public key is configured: its system identifier is not checked');
      else if (owner !== systemIdentifier) {
        throw new WalshipError(
          'WAL_FOREIGN_CLUSTER',
          `${found.key} in ${store.location}, the WAL segment this backup ends in, belongs to database system ${owner}, not to this cluster (${systemIdentifier}): another cluster archives into this prefix; the backup is not marked complete`,
          { details: { walFile, key: found.key, systemIdentifier, segmentSystemIdentifier: owner } },
        );
      }
      return;
    }
    if (Date.now() >= deadline) {
      throw new WalshipError(
        'BACKUP_WAL_MISSING',
        `WAL segment ${walFile}, which this backup needs to be consistent, did not reach ${store.location} within ${Math.round(timeoutMs / 1000)} s: check archive_command and pg_stat_archiver; the backup is not marked complete`,
        { details: { walFile } },
      );
    }
    log.debug({ walFile }, 'waiting for the backup end segment to be archived');
    await sleep(delay);
    delay = Math.min(delay * 1.5, 5_000);
  }
}

export async function backupPush(config: Config, archive: WalArchive, options: BackupPushOptions, log: Logger): Promise<BackupSentinel> {
  const store = archive.store;
  const client = await connectPg(config.pg);
  let workers: PartWorkers | undefined;
  try {
    const facts = await serverFacts(client);
    const control = await readPgControl(options.pgdata);
    const localSysid = control.readBigUInt64LE(0).toString();
    if (localSysid !== facts.systemIdentifier) {
      throw new WalshipError('CONFIG_INVALID', `PGDATA ${options.pgdata} belongs to database system ${localSysid}, but the server at PGHOST/PGPORT is system ${facts.systemIdentifier}: point both at the same cluster`);
    }
    warnAboutArchiving(facts, log);
    // Before anything is uploaded: another cluster's backup must never become this archive's LATEST.
    await archive.identity.expect(
      { systemIdentifier: facts.systemIdentifier, pgVersion: majorVersion(facts.versionNum), segmentSize: facts.walSegmentSize },
      `the cluster backed up from ${options.pgdata}`,
      'backup-push',
    );

    // The part threads load while PostgreSQL checkpoints.
    workers = new PartWorkers(config.transfer.uploadConcurrency).start();
    const startTime = new Date();
    const start = await startBackup(client, facts, 'walship base backup');
    const startWalFile = segmentNameForLsn(start.timeline, start.lsn, facts.walSegmentSize);
    const name = await uniqueName(store, backupName(startWalFile));
    log.info({ backup: name, startLsn: formatLsn(start.lsn), fromStandby: facts.inRecovery }, 'backup started');

    try {
      const scan = await scanDataDirectory(options.pgdata);
      const total = scan.files.reduce((s, f) => s + f.size, 0);
      const parts = partition(scan.files, options.partBytes, config.transfer.uploadConcurrency);
      const verifyFromLsn = options.verify && facts.dataChecksums ? start.lsn : undefined;
      let done = 0;
      const uploaded = await pushParts(workers, store, archive.codec, name, parts, {
        concurrency: config.transfer.uploadConcurrency,
        ...(verifyFromLsn === undefined ? {} : { verifyFromLsn }),
        onBytes: (n) => {
          done += n;
          options.onProgress?.(done, total);
        },
      });
      await workers.close();
      const pgControl = await readPgControl(options.pgdata);

      const stop = await stopBackup(client, facts);
      // XLByteToPrevSeg: the stop LSN may sit exactly on a segment boundary.
      const stopWalFile = segmentNameForLsn(start.timeline, stop.lsn - 1n, facts.walSegmentSize);
      await waitForWal(archive, stopWalFile, facts.systemIdentifier, options.walTimeoutMs, log);

      const files = uploaded.flatMap((u) => u.files).sort((a, b) => (a.path < b.path ? -1 : 1));
      const partsInfo = uploaded.map((u) => u.part);
      const corruptBlocks = options.verify ? uploaded.flatMap((u) => u.corruptBlocks) : undefined;
      const manifest: BackupManifest = {
        formatVersion: MANIFEST_FORMAT,
        name,
        startLsn: formatLsn(start.lsn),
        stopLsn: formatLsn(stop.lsn),
        startWalFile,
        stopWalFile,
        timeline: start.timeline,
        systemIdentifier: facts.systemIdentifier,
        pgVersion: facts.versionNum,
        startTime: startTime.toISOString(),
        finishTime: new Date().toISOString(),
        hostname: hostname(),
        pgdata: options.pgdata,
        fromStandby: facts.inRecovery,
        dataBytes: files.reduce((s, f) => s + f.size, 0) + pgControl.length,
        storedBytes: partsInfo.reduce((s, p) => s + p.storedBytes, 0),
        fileCount: files.length + 1,
        permanent: options.permanent,
        ...(options.userData === undefined ? {} : { userData: options.userData }),
        encoding: archive.codec.encoding,
        manifestKey: manifestKey(name, extensionFor(archive.codec.encoding.compression)),
        ...(options.verify ? { verified: facts.dataChecksums, corruptBlocks: corruptBlocks ?? [] } : {}),
        parts: partsInfo,
        files,
        directories: scan.directories,
        tablespaces: scan.tablespaces,
        backupLabel: stop.labelFile,
        tablespaceMap: stop.tablespaceMap,
        pgControl: pgControl.toString('base64'),
      };
      manifest.storedBytes += await writeManifest(store, archive.codec, manifest);
      const sentinel = sentinelOf(manifest);
      await writeSentinel(store, sentinel);
      log.info({ backup: name, dataBytes: sentinel.dataBytes, storedBytes: sentinel.storedBytes, files: sentinel.fileCount, corruptBlocks: corruptBlocks?.length }, 'backup complete');
      return sentinel;
    } catch (err) {
      await removeUnfinished(store, name).catch(() => undefined);
      throw err;
    }
  } finally {
    await workers?.close();
    // Closing the session also ends backup mode if it is still on.
    await client.end().catch(() => undefined);
  }
}

/** Removes what a failed backup wrote; what a crash leaves is found by `delete garbage`. */
async function removeUnfinished(store: StorageDriver, name: string): Promise<void> {
  const keys: string[] = [];
  for await (const o of listAll(store, backupDir(name))) keys.push(o.key);
  await store.deleteMany(keys);
}

