import { BLCKSZ, isNewPage, pageChecksum, pageHeader } from '../pg/page-checksum.ts';

// backup-push --verify: checks each data page's checksum as it streams past,
// at no extra read. Pages changed after the backup started may be torn in
// the copy and are rebuilt by WAL replay, so they are not judged.
// backup-verify runs the same checks over a stored backup's parts.

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

  /**
   * A checker for one file's bytes as they come, in any chunking (a restore's
   * tar stream does not cut at pages): whole pages are checked as they complete.
   */
  fileChecker(part: number, path: string): (chunk: Buffer) => void {
    if (!this.enabled || !RELATION_FILE.test(path)) return () => undefined;
    const carry = Buffer.alloc(BLCKSZ);
    let carried = 0;
    let offset = 0;
    return (chunk) => {
      let at = 0;
      if (carried > 0) {
        at = chunk.copy(carry, carried, 0, BLCKSZ - carried);
        carried += at;
        if (carried < BLCKSZ) return;
        this.check(part, path, offset, carry);
        offset += BLCKSZ;
        carried = 0;
      }
      const whole = chunk.length - at - ((chunk.length - at) % BLCKSZ);
      if (whole > 0) {
        this.check(part, path, offset, chunk.subarray(at, at + whole));
        offset += whole;
        at += whole;
      }
      if (at < chunk.length) carried = chunk.copy(carry, 0, at);
    };
  }

  corruptBlocks(): { path: string; block: number }[] {
    return [...this.byPart.values()].flat();
  }
}
