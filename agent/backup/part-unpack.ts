import { createHash, type Hash } from 'node:crypto';
import { chmodSync, chownSync, close, closeSync, fchmodSync, fchownSync, fdatasync, fsync, futimesSync, lchownSync, lstatSync, mkdirSync, openSync, rename, rmSync, symlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { Lz4FrameDecoder } from '../codec/lz4-decoder.ts';
import { WalshipError } from '../errors.ts';
import { threadReclaimer } from '../util/reclaim.ts';
import type { BackupFile } from './manifest.ts';
import { PageVerifier } from './page-verify.ts';
import { TarReader } from './tar-reader.ts';
import type { TarHeader } from './tar-format.ts';

// Unpacks one part on a worker thread, writing only the files asked for.
// Each file is written beside its destination, checked against the
// manifest's sha256, fsynced and only then renamed into place: a tampered
// part fails at the first bad file, and never leaves a wrong file under a
// right name. The fsync and rename of a finished file run in the
// background while the next file is decoded, a few files at most; and a
// large file's writeback starts as it is written, not at its fsync.
// Without a destination (backup-verify) the same decoding only hashes and
// page-checks each file, and reports every mismatch instead of stopping.

export interface UnpackOptions {
  /** Where files are written; undefined: verify only (backup-verify), nothing is written. */
  dest?: string;
  partKey: string;
  /** Files wanted from this part. */
  wanted: readonly BackupFile[];
  owner?: { uid: number; gid: number };
  /** 'lz4': the input is LZ4 frames, decoded here; 'none': the input is the tar itself. */
  compression: 'lz4' | 'none';
  /** Verify only: page checksums are checked on pages older than this LSN (the backup's start); undefined: not checked. */
  pagesBefore?: bigint;
  /**
   * A part with no walship manifest beside it (WAL-G's tar_partitions):
   * every entry it holds is restored, directories and symbolic links too,
   * with no checksum to check. `expected` lists the files it must hold
   * (WAL-G's files_metadata.json TarFileSets), when known. Restores only.
   */
  unlisted?: { expected: readonly string[] };
}

/** What a verify-only unpack found wrong; in a restore the first of these is an error instead. */
export interface UnpackFindings {
  mismatched: { path: string; sha256: string; expected: string }[];
  missing: string[];
  corruptBlocks: { path: string; block: number }[];
  /** Files the part restored (reported for unlisted parts, which have no list to count). */
  filesWritten?: number;
}

interface CheckedFile {
  file: BackupFile;
  hash: Hash;
  checkPages: (chunk: Buffer) => void;
}

/** Input is decoded this much at a time: a chunk of zero pages can decode to hundreds of MiB. */
const DECODE_SLICE = 64 << 10;
/** Finished files whose fsync may still be running; beyond this, decoding waits. */
const MAX_SYNCING = 4;

/**
 * A writeback (fdatasync) starts after every so many bytes of a file. The
 * kernel otherwise keeps a restore's writes dirty until each file's fsync
 * (dirty_background_ratio is 10 % of RAM), and the fsync of a 1 GiB
 * segment then waits for all of it while the CPU idles.
 */
const WRITEBACK_EVERY = 32 << 20;

const fsyncAsync = promisify(fsync);
const fdatasyncAsync = promisify(fdatasync);
const closeAsync = promisify(close);
const renameAsync = promisify(rename);

interface OpenFile {
  file: BackupFile;
  fd: number;
  tmp: string;
  target: string;
  hash: Hash;
  /** Bytes written since the last writeback started. */
  unsynced: number;
  writeback: Promise<void> | undefined;
}

/** A decoding error with the file it was inside of, when it was inside one: a damaged part is found by the file it damaged. */
function namingFile(err: unknown, path: string | undefined): unknown {
  if (path === undefined || !(err instanceof WalshipError) || err.details.path !== undefined) return err;
  return new WalshipError(err.code, `${err.message} (inside ${path})`, { cause: err, details: { ...err.details, path } });
}

export class PartUnpacker {
  readonly #options: UnpackOptions;
  readonly #wanted: Map<string, BackupFile>;
  readonly #seen = new Set<string>();
  readonly #tar: TarReader;
  readonly #decoder: Lz4FrameDecoder | undefined;
  #open: OpenFile | undefined;
  /** Verify only: the file being checked, and what was found. */
  #checking: CheckedFile | undefined;
  readonly #pages: PageVerifier | undefined;
  readonly #findings: UnpackFindings = { mismatched: [], missing: [], corruptBlocks: [] };
  readonly #syncing: Promise<void>[] = [];
  #syncFailure: { error: unknown } | undefined;
  #written = 0;
  readonly #reclaimer = threadReclaimer;

  constructor(options: UnpackOptions) {
    this.#options = options;
    this.#wanted = new Map(options.wanted.map((f) => [f.path, f]));
    if (options.dest === undefined) {
      this.#pages = new PageVerifier(options.pagesBefore !== undefined, options.pagesBefore ?? 0n);
      this.#pages.resetPart(0);
    }
    if (options.unlisted && options.dest === undefined) throw new WalshipError('INTERNAL', 'an unlisted part is only restored, never verified');
    this.#tar = new TarReader({
      onFile: (header) => this.#onFile(header),
      onData: (chunk) => this.#onData(chunk),
      onFileEnd: () => this.#onFileEnd(),
      ...(options.unlisted ? { onOtherEntry: (header: TarHeader) => this.#onOtherEntry(header) } : {}),
    });
    this.#decoder =
      options.compression === 'lz4'
        ? new Lz4FrameDecoder((decoded) => {
            this.#reclaimer.note(decoded.length);
            this.#tar.write(decoded);
          })
        : undefined;
  }

  /** Takes the next bytes of the part; resolves with the file bytes written since the last call. */
  async write(chunk: Buffer): Promise<number> {
    try {
      this.#reclaimer.note(chunk.length);
      if (this.#decoder) {
        for (let i = 0; i < chunk.length; i += DECODE_SLICE) {
          this.#decoder.write(chunk.subarray(i, i + DECODE_SLICE));
          if (this.#reclaimer.due) await this.#reclaimer.reclaim();
        }
      } else {
        this.#tar.write(chunk);
        if (this.#reclaimer.due) await this.#reclaimer.reclaim();
      }
      while (this.#syncing.length > MAX_SYNCING) await this.#syncing.shift();
      if (this.#syncFailure) throw this.#syncFailure.error;
    } catch (err) {
      const inFile = this.#checking?.file.path ?? this.#open?.file.path;
      await this.abort();
      throw this.#withFindings(namingFile(err, inFile));
    }
    const written = this.#written;
    this.#written = 0;
    return written;
  }

  /** Verify only: what was found wrong, once finish() has returned. */
  findings(): UnpackFindings {
    return { ...this.#findings, corruptBlocks: this.#pages?.corruptBlocks() ?? [], ...(this.#options.unlisted ? { filesWritten: this.#seen.size } : {}) };
  }

  /**
   * Verify only: what was found before the part failed goes with the error.
   * A flipped byte shows first as a file that does not match, and only at
   * the frame's end as a checksum error; the file is what the user needs.
   */
  #withFindings(err: unknown): unknown {
    if (this.#options.dest !== undefined || !(err instanceof WalshipError)) return err;
    return new WalshipError(err.code, err.message, { cause: err, details: { ...err.details, findings: this.findings() } });
  }

  /** The end of the part: every wanted file must have been in it. */
  async finish(): Promise<number> {
    try {
      this.#decoder?.end();
      this.#tar.end();
      await Promise.all(this.#syncing.splice(0));
      if (this.#syncFailure) throw this.#syncFailure.error;
    } catch (err) {
      const inFile = this.#checking?.file.path ?? this.#open?.file.path;
      await this.abort();
      throw this.#withFindings(namingFile(err, inFile));
    }
    const missing = [...(this.#options.unlisted?.expected ?? this.#wanted.keys())].filter((p) => !this.#seen.has(p));
    if (this.#options.dest === undefined) this.#findings.missing.push(...missing);
    else if (missing.length > 0) {
      throw new WalshipError('BACKUP_CORRUPT', `${this.#options.partKey} lacks ${missing.length} file(s) the manifest puts there, e.g. ${missing[0]}: the backup is damaged`);
    }
    return this.#written;
  }

  /** Stops: the file being written is removed; files already checked are still published. */
  async abort(): Promise<void> {
    const open = this.#open;
    this.#open = undefined;
    if (open) {
      // The fd number must not be reused while a writeback may still use it.
      await open.writeback;
      closeSync(open.fd);
      rmSync(open.tmp, { force: true });
    }
    await Promise.allSettled(this.#syncing.splice(0));
  }

  /** An unlisted part's entry: its path inside dest, refused when it would leave dest. */
  #unlistedPath(header: TarHeader): string {
    // WAL-G names entries from the data directory's root with a leading '/'
    // (internal/databases/postgres/bundle.go, getFileRelPath).
    const path = header.name.replace(/^\/+/, '').replace(/\/+$/, '');
    if (path === '' || path.split('/').some((s) => s === '..' || s === '')) {
      throw new WalshipError('BACKUP_CORRUPT', `${this.#options.partKey}: entry ${JSON.stringify(header.name)} is not a path inside the data directory: the backup is damaged or was tampered with`, { details: { path: header.name } });
    }
    return path;
  }

  /** mkdir -p of an unlisted part's directory, the directories it creates given to the owner. */
  #makeDir(path: string, mode: number): void {
    const target = join(this.#options.dest!, ...path.split('/'));
    const first = mkdirSync(target, { recursive: true, mode });
    const owner = this.#options.owner;
    if (first === undefined) return;
    for (let dir = target; ; dir = dirname(dir)) {
      if (owner) chownSync(dir, owner.uid, owner.gid);
      if (dir === first) return;
    }
  }

  /** Directories and symbolic links of an unlisted part; an existing link (a tablespace made before) is kept. */
  #onOtherEntry(header: TarHeader): void {
    // The data directory itself, should a writer name it: dest, made already.
    if (header.type === 'directory' && /^[/.]*$/.test(header.name)) return;
    const path = this.#unlistedPath(header);
    const target = join(this.#options.dest!, ...path.split('/'));
    if (header.type === 'directory') {
      this.#makeDir(path, 0o700);
      if (!lstatSync(target).isSymbolicLink()) chmodSync(target, header.mode & 0o7777 || 0o700);
      return;
    }
    if (header.type === 'symlink') {
      if (lstatSync(target, { throwIfNoEntry: false }) !== undefined) return;
      if (path.includes('/')) this.#makeDir(dirname(path), 0o700);
      symlinkSync(header.linkname, target);
      if (this.#options.owner) lchownSync(target, this.#options.owner.uid, this.#options.owner.gid);
      return;
    }
    throw new WalshipError('BACKUP_CORRUPT', `${this.#options.partKey}: ${path} is a hard link, which no PostgreSQL data directory holds: the backup is damaged or was not written by a backup tool`, { details: { path } });
  }

  /** An unlisted part's file, as a manifest would have listed it; its directory is made first (it may be in another part). */
  #unlistedFile(header: TarHeader): BackupFile {
    const path = this.#unlistedPath(header);
    if (path.includes('/')) this.#makeDir(dirname(path), 0o700);
    return { path, size: header.size, mtime: header.mtime * 1000, mode: header.mode, sha256: '', part: 0 };
  }

  #onFile(header: TarHeader): boolean {
    const file = this.#options.unlisted ? this.#unlistedFile(header) : this.#wanted.get(header.name);
    if (!file) return false;
    if (this.#options.dest === undefined) {
      this.#checking = { file, hash: createHash('sha256'), checkPages: this.#pages!.fileChecker(0, file.path) };
      return true;
    }
    const target = join(this.#options.dest, ...file.path.split('/'));
    const tmp = join(dirname(target), `.${file.path.split('/').pop()}.walship-restore`);
    const fd = openSync(tmp, 'w', file.mode & 0o777);
    this.#open = { file, fd, tmp, target, hash: createHash('sha256'), unsynced: 0, writeback: undefined };
    return true;
  }

  #onData(chunk: Buffer): void {
    if (this.#checking) {
      this.#checking.hash.update(chunk);
      this.#checking.checkPages(chunk);
      this.#written += chunk.length;
      return;
    }
    const open = this.#open!;
    open.hash.update(chunk);
    for (let i = 0; i < chunk.length; ) i += writeSync(open.fd, chunk, i);
    this.#written += chunk.length;
    open.unsynced += chunk.length;
    if (open.unsynced >= WRITEBACK_EVERY && open.writeback === undefined) {
      open.unsynced = 0;
      open.writeback = fdatasyncAsync(open.fd).then(
        () => {
          open.writeback = undefined;
        },
        (error: unknown) => {
          open.writeback = undefined;
          this.#syncFailure ??= { error };
        },
      );
    }
  }

  #onFileEnd(): void {
    const checking = this.#checking;
    if (checking) {
      this.#checking = undefined;
      this.#seen.add(checking.file.path);
      const sha256 = checking.hash.digest('hex');
      if (sha256 !== checking.file.sha256) this.#findings.mismatched.push({ path: checking.file.path, sha256, expected: checking.file.sha256 });
      return;
    }
    const open = this.#open!;
    const { file, fd, tmp, target, writeback } = open;
    const digest = open.hash.digest('hex');
    if (!this.#options.unlisted && digest !== file.sha256) {
      throw new WalshipError('BACKUP_CORRUPT', `${this.#options.partKey}: ${file.path} does not match the backup manifest (sha256 ${digest.slice(0, 16)}…, expected ${file.sha256.slice(0, 16)}…): the backup is damaged or was tampered with`, { details: { path: file.path } });
    }
    fchmodSync(fd, file.mode & 0o7777);
    if (this.#options.owner) fchownSync(fd, this.#options.owner.uid, this.#options.owner.gid);
    futimesSync(fd, file.mtime / 1000, file.mtime / 1000);
    this.#open = undefined;
    this.#seen.add(file.path);
    const publish = (async () => {
      try {
        await writeback;
        await fsyncAsync(fd);
      } finally {
        await closeAsync(fd);
      }
      await renameAsync(tmp, target);
    })().catch((error: unknown) => {
      this.#syncFailure ??= { error };
      rmSync(tmp, { force: true });
    });
    this.#syncing.push(publish);
  }
}
