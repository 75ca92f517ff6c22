import { BLCKSZ, isNewPage, pageChecksum, pageHeader } from '../pg/page-checksum.ts';

// backup-push --verify: checks each data page's checksum as it streams past,
// at no extra read. Pages changed after the backup started may be torn in
// the copy and are rebuilt by WAL replay, so they are not judged.

const RELATION_FILE = /^(?:global|base\/\d+|pg_tblspc\/\d+\/[^/]+\/\d+)\/\d+(?:_fsm|_vm|_init)?(?:\.(\d+))?$/;
const RELSEG_BLOCKS = 131072;

export class PageVerifier {
  readonly enabled: boolean;
  private readonly startLsn: bigint;
  private readonly byPart = new Map<number, { path: string; block: number }[]>();

  /** `enabled` is false when the cluster has no data checksums: nothing can be verified. */
  constructor(dataChecksums: boolean, startLsn: bigint) {
    this.enabled = dataChecksums;
    this.startLsn = startLsn;
  }

  resetPart(part: number): void {
    this.byPart.set(part, []);
  }

  check(part: number, path: string, offset: number, chunk: Buffer): void {
    if (!this.enabled) return;
    const m = RELATION_FILE.exec(path);
    if (!m) return;
    const segment = m[1] === undefined ? 0 : Number(m[1]);
    for (let at = 0; at + BLCKSZ <= chunk.length; at += BLCKSZ) {
      const page = chunk.subarray(at, at + BLCKSZ);
      if (isNewPage(page)) continue;
      const header = pageHeader(page);
      if (header.lsn >= this.startLsn) continue;
      const block = segment * RELSEG_BLOCKS + (offset + at) / BLCKSZ;
      if (pageChecksum(page, block) !== header.checksum) this.byPart.get(part)?.push({ path, block });
    }
  }

  corruptBlocks(): { path: string; block: number }[] {
    return [...this.byPart.values()].flat();
  }
}
