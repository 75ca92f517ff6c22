import assert from 'node:assert/strict';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { checkIntegrity } from '../../agent/verify/wal-integrity.ts';
import { timelinePath } from '../../agent/verify/timeline-path.ts';
import { checkTimeline } from '../../agent/verify/wal-timeline.ts';
import { failureError } from '../../agent/verify/report-text.ts';
import type { WalInventory } from '../../agent/verify/wal-inventory.ts';
import { runWalship } from '../support/cli.ts';
import { archiveAll, describeCli, pgEnv, pushBackup, startArchivingSource } from '../support/backup-harness.ts';
import { filesystemStore, type BackupStore } from '../support/backup-stores.ts';
import type { PgCluster } from '../support/pg-cluster.ts';

// wal-verify integrity timeline, with WAL-G's JSON fields, against real
// PostgreSQL 15 and a filesystem store: a segment deleted from the middle
// of the archive is reported as a lost range, and the exit code says so.

const SEG = 16 * 1024 * 1024;

function inventory(segments: Record<number, number[]>, highest: number): WalInventory {
  return { segments: new Map(Object.entries(segments).map(([tl, s]) => [Number(tl), new Set(s.map(BigInt))])), histories: new Map(), highestTimeline: highest };
}

describe('wal-verify integrity: the statuses', () => {
  test('missing at the newest end is delayed, within the upload window uploading, below it lost', () => {
    const r = checkIntegrity({ inventory: inventory({ 1: [2, 3, 5, 7, 8] }, 1), path: timelinePath(1, [], SEG), firstSegNo: 2n, lastSegNo: 10n, uploadingWindow: 1, segmentSize: SEG });
    assert.equal(r.status, 'FAILURE');
    assert.deepEqual(
      r.details.map((d) => [d.start_segment.slice(16), d.end_segment.slice(16), d.segments_count, d.status]),
      [
        ['00000002', '00000003', 2, 'FOUND'],
        ['00000004', '00000004', 1, 'MISSING_LOST'],
        ['00000005', '00000005', 1, 'FOUND'],
        ['00000006', '00000006', 1, 'MISSING_LOST'],
        ['00000007', '00000008', 2, 'FOUND'],
        ['00000009', '0000000A', 2, 'MISSING_DELAYED'],
      ],
    );
    const uploading = checkIntegrity({ inventory: inventory({ 1: [2, 3, 5, 7, 8] }, 1), path: timelinePath(1, [], SEG), firstSegNo: 5n, lastSegNo: 8n, uploadingWindow: 2, segmentSize: SEG });
    assert.equal(uploading.status, 'WARNING');
    assert.deepEqual(uploading.details.map((d) => d.status), ['FOUND', 'MISSING_UPLOADING', 'FOUND']);
  });

  test('each segment is looked for on the timeline that holds it: the switch segment is the child\'s', () => {
    // Timeline 1 ended at 0/5800000, inside segment 5: 5 onwards are timeline 2's.
    const path = timelinePath(2, [{ parent: 1, switchLsn: 5n * BigInt(SEG) + 0x800000n }], SEG);
    const r = checkIntegrity({ inventory: inventory({ 1: [3, 4, 5, 6], 2: [5, 6] }, 2), path, firstSegNo: 3n, lastSegNo: 6n, uploadingWindow: 0, segmentSize: SEG });
    assert.equal(r.status, 'OK');
    assert.deepEqual(r.details.map((d) => [d.timeline_id, d.start_segment, d.end_segment, d.status]), [
      [1, '000000010000000000000003', '000000010000000000000004', 'FOUND'],
      [2, '000000020000000000000005', '000000020000000000000006', 'FOUND'],
    ]);
    const gap = checkIntegrity({ inventory: inventory({ 1: [3, 5, 6], 2: [5, 6] }, 2), path, firstSegNo: 3n, lastSegNo: 6n, uploadingWindow: 0, segmentSize: SEG });
    assert.deepEqual(gap.details.find((d) => d.status === 'MISSING_LOST'), { timeline_id: 1, start_segment: '000000010000000000000004', end_segment: '000000010000000000000004', segments_count: 1, status: 'MISSING_LOST' });
  });
});

describe('wal-verify timeline: the statuses', () => {
  test('the same timeline is OK; a higher one in the archive FAILURE (a split brain); a lower one WARNING (not archived yet)', () => {
    assert.deepEqual(checkTimeline(2, 2), { status: 'OK', details: { current_timeline_id: 2, highest_storage_timeline_id: 2 } });
    assert.equal(checkTimeline(1, 2).status, 'FAILURE');
    assert.equal(checkTimeline(3, 2).status, 'WARNING');
    const error = failureError({ timeline: checkTimeline(1, 2) });
    assert.equal(error?.code, 'WAL_VERIFY_FAILED');
    assert.match(error!.message, /the archive holds timeline 2, above the cluster's 1/);
    assert.equal(failureError({ timeline: checkTimeline(3, 2) }), undefined, 'a WARNING exits 0');
  });
});

describe('walship wal-verify on a real archive', () => {
  let store: BackupStore | undefined;
  let source: PgCluster | undefined;
  after(async () => {
    await source?.destroy();
    await store?.stop();
  });

  test('OK on a whole archive; a segment deleted from the middle is a MISSING_LOST range, exit 65', { timeout: 180_000 }, async () => {
    store = await filesystemStore.start('');
    source = await startArchivingSource(store.env);
    await source.query('create table t (x int)');
    await pushBackup(source, store.env);
    for (let i = 0; i < 6; i++) {
      await source.query('insert into t select generate_series(1, 1000)');
      await archiveAll(source);
    }
    const env = { ...pgEnv(source), ...store.env, WALG_UPLOAD_CONCURRENCY: '1' };

    const whole = await runWalship(['wal-verify', 'integrity', 'timeline', '--json'], env);
    assert.equal(whole.code, 0, describeCli(whole));
    const ok = JSON.parse(whole.stdout) as { integrity: { status: string; details: { status: string; segments_count: number; start_segment: string; end_segment: string; timeline_id: number }[] }; timeline: { status: string; details: Record<string, number> } };
    assert.equal(ok.integrity.status, 'OK');
    assert.equal(ok.integrity.details.length, 1);
    assert.equal(ok.integrity.details[0]!.status, 'FOUND');
    assert.ok(ok.integrity.details[0]!.segments_count >= 7, JSON.stringify(ok.integrity));
    assert.deepEqual(ok.timeline, { status: 'OK', details: { current_timeline_id: 1, highest_storage_timeline_id: 1 } });

    // One segment from the middle of the range goes.
    const first = ok.integrity.details[0]!.start_segment;
    const walDir = join(store.config.kind === 'fs' ? store.config.root : '', 'wal_005');
    const victim = first.slice(0, 16) + (parseInt(first.slice(16), 16) + 3).toString(16).toUpperCase().padStart(8, '0');
    const object = (await readdir(walDir)).find((f) => f.startsWith(`${victim}.`) && !f.includes('backup') && !f.includes('partial'));
    assert.ok(object, `${victim} is archived`);
    await rm(join(walDir, object));

    const holed = await runWalship(['wal-verify', 'integrity', 'timeline', '--json'], env);
    assert.equal(holed.code, 65, describeCli(holed));
    const failed = JSON.parse(holed.stdout) as typeof ok;
    assert.equal(failed.integrity.status, 'FAILURE');
    assert.deepEqual(failed.integrity.details.map((d) => d.status), ['FOUND', 'MISSING_LOST', 'FOUND']);
    assert.deepEqual(failed.integrity.details[1], { timeline_id: 1, start_segment: victim, end_segment: victim, segments_count: 1, status: 'MISSING_LOST' });
    assert.equal(failed.timeline.status, 'OK');
    assert.match(holed.stderr, new RegExp(`WAL_VERIFY_FAILED: integrity: 1 segment\\(s\\) missing from the archive: ${victim}`));

    const text = await runWalship(['wal-verify', 'integrity'], env);
    assert.equal(text.code, 65, describeCli(text));
    assert.match(text.stdout, /^\[wal-verify\] integrity check status: FAILURE$/m);
    assert.match(text.stdout, new RegExp(`^1\\s+${victim}\\s+${victim}\\s+1\\s+MISSING_LOST$`, 'm'));
  });
});
