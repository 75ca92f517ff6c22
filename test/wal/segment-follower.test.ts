import { xxh64 } from '@node-rs/xxhash';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { createCodec, type Codec } from '../../agent/codec/index.ts';
import { segmentName } from '../../agent/wal/names.ts';
import { SegmentFollower } from '../../agent/wal/segment-follower.ts';

// The follower against a pg_wal written page by page, as PostgreSQL writes
// it: pages with their headers, a recycled file full of old pages, a page
// rewritten after it was read. Whatever happens, take() hands back either
// exactly the finished file's hash and encoding, or nothing.

const SEGMENT = 1 << 20;
const PAGE = 8192;
const PAGES = SEGMENT / PAGE;

/** A segment's bytes as PostgreSQL would leave them, for segment number segNo. */
function segmentBytes(segNo: bigint, variant: string): Buffer {
  const buf = Buffer.alloc(SEGMENT);
  const seed = createHash('sha256').update(`${segNo}:${variant}`).digest();
  for (let page = 0; page < PAGES; page++) {
    const at = page * PAGE;
    for (let off = at + 64; off + 32 <= at + PAGE; off += 512) seed.copy(buf, off);
    buf.writeUInt16LE(0xd110, at);
    buf.writeUInt16LE(page === 0 ? 0x0002 : 0, at + 2);
    buf.writeUInt32LE(1, at + 4);
    buf.writeBigUInt64LE(segNo * BigInt(SEGMENT) + BigInt(at), at + 8);
    if (page === 0) {
      buf.writeBigUInt64LE(7_300_000_000_000_000_001n, 24);
      buf.writeUInt32LE(SEGMENT, 32);
      buf.writeUInt32LE(PAGE, 36);
    }
  }
  return buf;
}

async function decode(codec: Codec, encoded: Buffer): Promise<Buffer> {
  return Buffer.concat(await codec.decode(Readable.from([encoded]), codec.encoding).toArray());
}

const xxh64Hex = (b: Buffer) => xxh64(b).toString(16).padStart(16, '0');

/** What take() hands back, checked against the file's expected content. */
async function assertTaken(codec: Codec, taken: Awaited<ReturnType<SegmentFollower['take']>>, content: Buffer) {
  assert.ok(taken, 'followed to the end');
  assert.deepEqual(await taken.file.digest(), { algorithm: 'xxh64', hex: xxh64Hex(content) });
  assert.ok(taken.file.data?.equals(content), 'the file as read is the finished segment');
  assert.ok((await decode(codec, taken.encoded)).equals(content), 'the encoding decodes to the finished segment');
  assert.ok(taken.encoded.equals(await codec.encodeWhole(content)), 'byte for byte what a push without the follower stores');
  taken.file.done(true);
}

describe('SegmentFollower', () => {
  let root: string;
  let codec: Codec;
  let counter = 0;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'walship-follow-'));
    codec = await createCodec({ compression: 'lz4' });
  });
  after(() => rm(root, { recursive: true, force: true }));

  /** A pg_wal holding segment segNo, written up to `pages` pages, and a writer to go on. */
  async function pgWal(segNo: bigint, content: Buffer, pages: number) {
    const dir = join(root, `pg_wal-${++counter}`);
    await import('node:fs/promises').then((fs) => fs.mkdir(dir));
    const name = segmentName(1, segNo, SEGMENT);
    const path = join(dir, name);
    await writeFile(path, Buffer.alloc(SEGMENT));
    const writeUpTo = async (upTo: number, from = 0) => {
      const handle = await open(path, 'r+');
      await handle.write(content, from * PAGE, (upTo - from) * PAGE, from * PAGE);
      await handle.close();
    };
    await writeUpTo(pages);
    return { dir, name, path, writeUpTo };
  }

  test('reads final pages as they are written, and hands back the finished segment hashed and encoded', async () => {
    const content = segmentBytes(5n, 'a');
    const wal = await pgWal(5n, content, 3);
    const follower = new SegmentFollower(wal.dir, codec, { readBytes: 64 * PAGE });
    follower.poll(1);
    assert.deepEqual(follower.following, [wal.name]);
    for (let pages = 10; pages <= PAGES; pages += 37) {
      await wal.writeUpTo(Math.min(pages, PAGES));
      follower.poll(2);
    }
    await wal.writeUpTo(PAGES);
    follower.poll(3);
    await assertTaken(codec, await follower.take(wal.name, wal.path), content);
    assert.deepEqual(follower.following, [], 'taken: no longer followed');
    assert.equal(await follower.take(wal.name, wal.path), undefined, 'taken once');
    follower.stop();
  });

  test('a page that changed after it was read makes take() decline, and so does another size', async () => {
    const content = segmentBytes(6n, 'b');
    const wal = await pgWal(6n, content, PAGES / 2);
    const follower = new SegmentFollower(wal.dir, codec);
    follower.poll(1);
    follower.poll(2);
    // Rewritten, as after a crash: same page addresses, other records.
    const rewritten = Buffer.from(content);
    segmentBytes(6n, 'c').copy(rewritten, 20 * PAGE, 20 * PAGE, 40 * PAGE);
    await writeFile(wal.path, rewritten);
    assert.equal(await follower.take(wal.name, wal.path), undefined);

    const again = new SegmentFollower(wal.dir, codec);
    again.poll(1);
    await writeFile(wal.path, content.subarray(0, SEGMENT / 2));
    assert.equal(await again.take(wal.name, wal.path), undefined);
    again.stop();
    follower.stop();
  });

  test('a push of another file under the followed name gets that file, never what was followed', async () => {
    const content = segmentBytes(8n, 'e');
    const wal = await pgWal(8n, content, PAGES);
    const elsewhere = join(root, `elsewhere-${++counter}`);
    await import('node:fs/promises').then((fs) => fs.mkdir(elsewhere));
    const otherPath = join(elsewhere, wal.name);
    // Diverged in pages the follower has read (a split brain early on), and only in the last page (late).
    const early = Buffer.from(content);
    early[10 * PAGE + 100]! ^= 0x01;
    const late = Buffer.from(content);
    late[SEGMENT - 100]! ^= 0x01;
    for (const [other, label] of [[early, 'early'], [late, 'late']] as const) {
      const follower = new SegmentFollower(wal.dir, codec);
      follower.poll(1);
      follower.poll(2);
      await writeFile(otherPath, other);
      const taken = await follower.take(wal.name, otherPath);
      if (label === 'early') assert.equal(taken, undefined, 'the followed pages differ: declined, the push reads the file itself');
      else await assertTaken(codec, taken, other);
      follower.stop();
    }
  });

  test('pages left in a recycled file are not taken for new ones, and the segment after is followed when it begins', async () => {
    const first = segmentBytes(7n, 'd');
    const wal = await pgWal(7n, first, PAGES);
    // The next segment is a recycled file: its pages carry an old segment's addresses.
    const nextName = segmentName(1, 8n, SEGMENT);
    const old = segmentBytes(2n, 'old');
    await writeFile(join(wal.dir, nextName), old);
    const follower = new SegmentFollower(wal.dir, codec);
    follower.poll(1);
    follower.poll(2);
    assert.deepEqual(follower.following, [wal.name], 'a recycled file is not begun');

    // PostgreSQL begins the next segment: its first pages overwrite the old ones.
    const next = segmentBytes(8n, 'e');
    const handle = await open(join(wal.dir, nextName), 'r+');
    await handle.write(next, 0, 5 * PAGE, 0);
    await handle.close();
    follower.poll(3);
    assert.deepEqual(follower.following, [wal.name, nextName], 'the finished one is kept for its push');
    follower.poll(4);

    await assertTaken(codec, await follower.take(wal.name, wal.path), first);
    // Only pages 0-3 of the next are final; the old pages beyond are never read as its own.
    const mixed = Buffer.concat([next.subarray(0, 5 * PAGE), old.subarray(5 * PAGE)]);
    await assertTaken(codec, await follower.take(nextName, join(wal.dir, nextName)), mixed);
    follower.stop();
  });

  test('an empty or missing pg_wal is not an error', async () => {
    const follower = new SegmentFollower(join(root, 'missing'), codec);
    follower.poll(1);
    assert.deepEqual(follower.following, []);
    const name = segmentName(1, 1n, SEGMENT);
    assert.equal(await follower.take(name, join(root, 'missing', name)), undefined);
    follower.stop();
  });
});
