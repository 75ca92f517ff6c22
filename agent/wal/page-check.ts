import type { FileHandle } from 'node:fs/promises';
import { WalshipError } from '../errors.ts';
import type { WalFileName } from './names.ts';
import type { SegmentHeader } from './segment-header.ts';

// A WAL object without a checksum (WAL-G writes none, and an object can
// lose its metadata) is checked for everything a segment says about itself,
// on every page, not just the first: a damaged page header is then caught
// before PostgreSQL replays the file, wherever it is. Damage inside a
// record's data is not visible here; only a checksum catches that, which is
// why wal-fetch warns when it had none.
//
// Every page of a finished segment starts with XLogPageHeaderData: the
// version's magic, flags, the timeline and the page's own WAL address.
// After an XLOG_SWITCH record PostgreSQL (13 and later) fills the rest of
// the segment with zeros, headers included: from the first page of zeros
// on, every page must be zeros.

const XLP_FIRST_IS_CONTRECORD = 0x0001;
const XLP_LONG_HEADER = 0x0002;
/** XLP_ALL_FLAGS of PostgreSQL 15 (FIRST_IS_CONTRECORD, LONG_HEADER, BKP_REMOVABLE, FIRST_IS_OVERWRITE_CONTRECORD). */
const XLP_ALL_FLAGS = 0x000f;
const READ_BYTES = 1024 * 1024;

function damaged(file: WalFileName, offset: number, why: string): WalshipError {
  return new WalshipError('WAL_NOT_A_SEGMENT', `${file.name} is not a valid WAL segment: the page at offset ${offset} (0x${offset.toString(16)}) ${why}`, {
    details: { name: file.name, offset },
  });
}

/** Throws unless the page at `offset` is one PostgreSQL wrote at that place in this segment; returns whether it is a page of zeros. */
function checkPage(file: WalFileName, first: SegmentHeader, magic: number, page: Buffer, offset: number, lastTimeline: number, zerosBegun: boolean): { zeros: boolean; timeline: number } {
  const zeros = page.every((b) => b === 0);
  if (zeros) return { zeros, timeline: lastTimeline };
  if (zerosBegun) throw damaged(file, offset, 'holds data after the zeros that follow a WAL switch');
  const pageMagic = page.readUInt16LE(0);
  if (pageMagic !== magic) throw damaged(file, offset, `has page magic 0x${pageMagic.toString(16)}, not the segment's 0x${magic.toString(16)}`);
  const info = page.readUInt16LE(2);
  if ((info & ~XLP_ALL_FLAGS) !== 0) throw damaged(file, offset, `has unknown page flags 0x${info.toString(16)}`);
  if ((info & XLP_LONG_HEADER) !== 0 && offset !== 0) throw damaged(file, offset, 'has a long header, which only the first page of a segment has');
  const timeline = page.readUInt32LE(4);
  if (timeline < lastTimeline || timeline > file.timeline) {
    throw damaged(file, offset, `is on timeline ${timeline}, outside ${lastTimeline}..${file.timeline} (the earlier pages' timeline up to the name's)`);
  }
  const address = page.readBigUInt64LE(8);
  const expected = first.pageAddress + BigInt(offset);
  if (address !== expected) throw damaged(file, offset, `says it is at 0x${address.toString(16)}, not 0x${expected.toString(16)}`);
  const remaining = page.readUInt32LE(16);
  if ((info & XLP_FIRST_IS_CONTRECORD) === 0 && remaining !== 0) throw damaged(file, offset, `continues no record, yet says ${remaining} bytes of one remain`);
  return { zeros, timeline };
}

/**
 * Checks every page header of a restored segment whose first page
 * (already parsed and checked against the name and size) is `first`.
 */
export async function checkAllPages(handle: FileHandle, file: WalFileName, first: SegmentHeader, size: number): Promise<void> {
  if (first.timeline < 1 || first.timeline > file.timeline) {
    throw damaged(file, 0, `is on timeline ${first.timeline}, but the name says timeline ${file.timeline}`);
  }
  const block = first.blockSize;
  if (block < 1024 || block > 65536 || (block & (block - 1)) !== 0 || size % block !== 0) {
    throw damaged(file, 0, `gives an implausible page size ${block} for a ${size}-byte segment`);
  }
  const buffer = Buffer.alloc(Math.max(block, READ_BYTES - (READ_BYTES % block)));
  let magic: number | undefined;
  let timeline = first.timeline;
  let zerosBegun = false;
  for (let at = 0; at < size; ) {
    const want = Math.min(buffer.length, size - at);
    let got = 0;
    while (got < want) {
      const { bytesRead } = await handle.read(buffer, got, want - got, at + got);
      if (bytesRead === 0) throw damaged(file, at + got, 'is missing: the file ends early');
      got += bytesRead;
    }
    for (let off = 0; off < got; off += block) {
      const page = buffer.subarray(off, off + block);
      magic ??= page.readUInt16LE(0);
      const seen = checkPage(file, first, magic, page, at + off, timeline, zerosBegun);
      if (at + off === 0 && seen.zeros) throw damaged(file, 0, 'is all zeros');
      zerosBegun = seen.zeros;
      timeline = seen.timeline;
    }
    at += got;
  }
}
