// What a backup's global/pg_control says, read without PostgreSQL's tools:
// backup-verify needs to know whether the cluster has data checksums
// before it judges pages. The layout is ControlFileData of
// pg_control_version 1300 (PostgreSQL 13 to 16) on a little-endian 64-bit
// build; any other version or a layout that does not add up is "unknown",
// never a guess.

const PG_CONTROL_VERSION = 1300;
const OFFSETS = {
  systemIdentifier: 0,
  controlVersion: 8,
  checkpointTimeline: 40 + 8,
  blockSize: 216,
  walSegmentSize: 228,
  dataChecksumVersion: 252,
} as const;
const MIN_LENGTH = 256;

export interface ControlFileFacts {
  systemIdentifier: string;
  /** The timeline of the last checkpoint. */
  timeline: number;
  blockSize: number;
  walSegmentSize: number;
  dataChecksums: boolean;
}

const isPowerOfTwo = (n: number) => n > 0 && (n & (n - 1)) === 0;

/** The facts, or undefined when this is not a pg_control this layout describes. */
export function parseControlFile(bytes: Buffer): ControlFileFacts | undefined {
  if (bytes.length < MIN_LENGTH || bytes.readUInt32LE(OFFSETS.controlVersion) !== PG_CONTROL_VERSION) return undefined;
  const blockSize = bytes.readUInt32LE(OFFSETS.blockSize);
  const walSegmentSize = bytes.readUInt32LE(OFFSETS.walSegmentSize);
  const dataChecksumVersion = bytes.readUInt32LE(OFFSETS.dataChecksumVersion);
  if (!isPowerOfTwo(blockSize) || !isPowerOfTwo(walSegmentSize) || dataChecksumVersion > 1) return undefined;
  return {
    systemIdentifier: bytes.readBigUInt64LE(OFFSETS.systemIdentifier).toString(),
    timeline: bytes.readUInt32LE(OFFSETS.checkpointTimeline),
    blockSize,
    walSegmentSize,
    dataChecksums: dataChecksumVersion === 1,
  };
}
