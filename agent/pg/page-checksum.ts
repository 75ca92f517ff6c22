// PostgreSQL's data page checksum (storage/checksum_impl.h): 32 parallel
// FNV-1a-like lanes over the page seen as little-endian uint32 words, with
// pd_checksum taken as zero, two extra mixing rounds, folded by XOR, mixed
// with the block number and reduced to 1..65535 (0 means "no checksum").

export const BLCKSZ = 8192;
const N_SUMS = 32;
const FNV_PRIME = 16777619;
const BASE_OFFSETS = [
  0x5b1f36e9, 0xb8525960, 0x02ab50aa, 0x1de66d2a, 0x79ff467a, 0x9bb9f8a3, 0x217e7cd2, 0x83e13d2c,
  0xf8d4474f, 0xe39eb970, 0x42c6ae16, 0x993216fa, 0x7b093b5d, 0x98daff3c, 0xf718902a, 0x0b1c9cdb,
  0xe58f764b, 0x187636bc, 0x5d7b3bb1, 0xe73de7de, 0x92bec979, 0xcca6c0b2, 0x304a0979, 0x85aa43d4,
  0x783125bb, 0x6ca8eaa2, 0xe407eac6, 0x4b5cfc3e, 0x9fbf8c76, 0x15ca20be, 0xf2ca9fd3, 0x959bd756,
];

const sums = new Uint32Array(N_SUMS);

function comp(i: number, value: number): void {
  const tmp = (sums[i]! ^ value) >>> 0;
  sums[i] = (Math.imul(tmp, FNV_PRIME) ^ (tmp >>> 17)) >>> 0;
}

/** The checksum PostgreSQL would store in this 8 KiB page as block `blockNumber` of its relation. */
export function pageChecksum(page: Buffer, blockNumber: number): number {
  sums.set(BASE_OFFSETS);
  const rows = BLCKSZ / (4 * N_SUMS);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < N_SUMS; j++) {
      const offset = (r * N_SUMS + j) * 4;
      // pd_checksum is bytes 8..9, the low half of word 2 (little-endian).
      const word = offset === 8 ? page.readUInt32LE(8) & 0xffff0000 : page.readUInt32LE(offset);
      comp(j, word);
    }
  }
  for (let round = 0; round < 2; round++) for (let j = 0; j < N_SUMS; j++) comp(j, 0);
  let result = 0;
  for (let j = 0; j < N_SUMS; j++) result = (result ^ sums[j]!) >>> 0;
  result = (result ^ blockNumber) >>> 0;
  return (result % 65535) + 1;
}

export interface PageHeader {
  lsn: bigint;
  checksum: number;
  upper: number;
}

export function pageHeader(page: Buffer): PageHeader {
  return {
    lsn: (BigInt(page.readUInt32LE(0)) << 32n) | BigInt(page.readUInt32LE(4)),
    checksum: page.readUInt16LE(8),
    upper: page.readUInt16LE(14),
  };
}

/** A new, never-initialised page: all zeros, no checksum to check. */
export function isNewPage(page: Buffer): boolean {
  return pageHeader(page).upper === 0;
}
