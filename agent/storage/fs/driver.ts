import { createReadStream, type Stats } from 'node:fs';
import type { Readable, Transform } from 'node:stream';
import { chown, link, mkdir, open, readFile, rename, rm, stat, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { FsStoreConfig } from '../../config/types.ts';
import { WalshipError } from '../../errors.ts';
import { fsyncDir } from '../../util/atomic-file.ts';
import { notFound, type ErrorContext } from '../classify.ts';
import type { BodySource, GetResult, ListPage, ObjectInfo, ObjectMetadata, StorageDriver } from '../driver.ts';
import { walkKeys } from './walk.ts';
import { isInternalName, metaPathFor, tempPathFor } from './names.ts';
import { hashStored, matchByContent, matchByFile, mismatch, newSidecar, parseSidecar, rebind, storedHasher, verifyingStream, type Binding, type FileIdentity, type Sidecar } from './sidecar.ts';

// A directory as an object store. Objects are plain files, so an operator
// can `lz4 -d` them by hand, and the store can be copied with cp -a, rsync
// or tar; metadata sits in a hidden sidecar bound to the bytes it describes
// (sidecar.ts), so neither a crash between the two renames nor a copy can
// pair an object with metadata that is not its own.

const identityOf = (st: Stats): FileIdentity => ({ ino: st.ino, size: st.size, mtimeMs: st.mtimeMs });

export function createFsDriver(config: FsStoreConfig): StorageDriver {
  const root = config.root;
  const location = `file://${root}`;
  const pathOf = (key: string) => {
    if (key.split('/').some(isInternalName)) {
      throw new WalshipError('STORE_INVALID_KEY', `invalid object key ${JSON.stringify(key)}: names reserved for the filesystem store's temp and metadata files`);
    }
    return join(root, ...key.split('/'));
  };
  const ctx = (op: string, key?: string): ErrorContext => ({ op, location, ...(key === undefined ? {} : { key }) });

  // The root is never created here: a volume not mounted, or a directory
  // moved away, would otherwise become a fresh, empty archive that takes
  // PostgreSQL's segments while the real one is elsewhere. Only
  // `walship st init` creates it (see ./init.ts).
  async function rootMissing(): Promise<boolean> {
    try {
      await stat(root);
      return false;
    } catch (err) {
      if (isCode(err, 'ENOENT') || isCode(err, 'ENOTDIR')) return true;
      throw err;
    }
  }
  const noRoot = (c: ErrorContext) => missingRootError(c, root);
  /** ENOENT means "no such object" only while the root is there. */
  async function whenMissing<T>(c: ErrorContext, absent: () => T): Promise<T> {
    if (await rootMissing()) throw noRoot(c);
    return absent();
  }

  async function readSidecar(path: string, where: string): Promise<Sidecar | undefined> {
    let text: string;
    try {
      text = await readFile(metaPathFor(path), 'utf8');
    } catch (err) {
      if (isCode(err, 'ENOENT') || isCode(err, 'ENOTDIR')) return undefined;
      throw err;
    }
    try {
      return parseSidecar(text);
    } catch (err) {
      throw new WalshipError('STORE_CORRUPT', `${where}: its metadata file ${metaPathFor(path)} is unreadable (${(err as Error).message}); nothing is read from it`, { cause: err });
    }
  }

  /** The binding that describes the open file's bytes; reads them only when the file is not the one the sidecar was written for (a copied store). */
  async function bindingFor(path: string, handle: FileHandle, st: Stats, where: string): Promise<Binding | undefined> {
    const file = identityOf(st);
    const match = matchByFile(await readSidecar(path, where), file);
    if ('settled' in match) return match.settled;
    if (match.candidates.length === 0) throw mismatch([], file, undefined, where);
    return matchByContent(match.candidates, file, await hashStored(handle, st.size), where);
  }

  async function info(key: string, path: string): Promise<ObjectInfo | undefined> {
    let handle: FileHandle;
    try {
      // stat first: opening a FIFO or a device would block, and neither is an object.
      if (!(await exists(path))) return whenMissing(ctx('stat', key), () => undefined);
      handle = await open(path, 'r');
    } catch (err) {
      if (isCode(err, 'ENOENT') || isCode(err, 'ENOTDIR')) return whenMissing(ctx('stat', key), () => undefined);
      throw fsError(ctx('stat', key), err);
    }
    try {
      const st = await handle.stat();
      if (!st.isFile()) return undefined;
      const metadata = (await bindingFor(path, handle, st, `${location}/${key}`))?.metadata;
      return { key, size: st.size, lastModified: st.mtime, ...(metadata ? { metadata } : {}) };
    } catch (err) {
      throw fsError(ctx('stat', key), err);
    } finally {
      await handle.close();
    }
  }

  async function exists(path: string): Promise<boolean> {
    try {
      return (await stat(path)).isFile();
    } catch (err) {
      if (isCode(err, 'ENOENT') || isCode(err, 'ENOTDIR')) return false;
      throw err;
    }
  }

  /** What describes the object about to be replaced, so that a crash between put's two renames leaves it readable; undefined if nothing does. */
  async function currentBinding(path: string): Promise<Binding | undefined> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch {
      return undefined;
    }
    try {
      const st = await handle.stat();
      const binding = st.isFile() ? await bindingFor(path, handle, st, path) : undefined;
      return binding && rebind(binding, identityOf(st));
    } catch {
      // Damaged or foreign bytes: nothing to keep describing.
      return undefined;
    } finally {
      await handle.close();
    }
  }

  // Everything in the store belongs to whoever owns its root: a backup-push
  // run as root must not leave directories the postgres user's wal-push
  // cannot write into.
  let owner: Promise<{ uid: number; gid: number } | undefined> | undefined;
  const storeOwner = () =>
    (owner ??= process.getuid?.() !== 0 ? Promise.resolve(undefined) : stat(root).then((st) => (st.uid === 0 ? undefined : { uid: st.uid, gid: st.gid }), () => undefined));

  /**
   * Makes the directories between the root and path, one level at a time
   * and never recursively, so that a root that vanished fails (ENOENT on
   * its first level) instead of being made again.
   */
  async function makeParents(path: string, c: ErrorContext): Promise<void> {
    const parts = relative(root, dirname(path)).split(sep).filter((p) => p !== '');
    let dir = root;
    for (const part of parts) {
      dir = join(dir, part);
      try {
        await mkdir(dir);
      } catch (err) {
        if (isCode(err, 'EEXIST')) continue;
        if (isCode(err, 'ENOENT') && (await rootMissing())) throw noRoot(c);
        throw err;
      }
      const o = await storeOwner();
      if (o) await chown(dir, o.uid, o.gid);
    }
  }

  /**
   * Writes body and sidecar to temp files beside the destination, both
   * fsynced. The two fsyncs run at once (a journaling filesystem commits
   * them together): every millisecond here is one archive_command waits for.
   */
  async function stage(path: string, body: BodySource, metadata: ObjectMetadata, c: ErrorContext, previous?: Binding) {
    await makeParents(path, c);
    const dataTmp = tempPathFor(path);
    const metaTmp = tempPathFor(metaPathFor(path));
    try {
      const handle = await open(dataTmp, 'wx', 0o640);
      try {
        const stored = storedHasher();
        for await (const chunk of body()) {
          stored.update(chunk as Buffer);
          await writeAll(handle, chunk as Buffer);
        }
        const sidecar = newSidecar(identityOf(await handle.stat()), stored.digest(), metadata, previous);
        await Promise.all([handle.datasync(), writeFile(metaTmp, JSON.stringify(sidecar), { flag: 'wx', mode: 0o640, flush: true })]);
      } finally {
        await handle.close();
      }
      const o = await storeOwner();
      if (o) for (const tmp of [dataTmp, metaTmp]) await chown(tmp, o.uid, o.gid);
      return { dataTmp, metaTmp };
    } catch (err) {
      await rm(dataTmp, { force: true });
      await rm(metaTmp, { force: true });
      if (isCode(err, 'ENOENT') && (await rootMissing())) throw noRoot(c);
      throw err;
    }
  }

  return {
    kind: 'fs',
    location,

    async put(key, body, options = {}) {
      const path = pathOf(key);
      try {
        const { dataTmp, metaTmp } = await stage(path, body, options.metadata ?? {}, ctx('put', key), await currentBinding(path));
        await rename(metaTmp, metaPathFor(path));
        await rename(dataTmp, path);
        await fsyncDir(dirname(path));
      } catch (err) {
        throw fsError(ctx('put', key), err);
      }
    },

    async putIfAbsent(key, body, options = {}) {
      const path = pathOf(key);
      let staged: { dataTmp: string; metaTmp: string } | undefined;
      try {
        if (await exists(path)) return false;
        staged = await stage(path, body, options.metadata ?? {}, ctx('put-if-absent', key));
        // link(2) fails if the name exists: the atomic create-if-absent that rename lacks.
        try {
          await link(staged.dataTmp, path);
        } catch (err) {
          if (isCode(err, 'EEXIST')) return false;
          throw err;
        }
        await rename(staged.metaTmp, metaPathFor(path));
        staged.metaTmp = '';
        await fsyncDir(dirname(path));
        return true;
      } catch (err) {
        throw fsError(ctx('put-if-absent', key), err);
      } finally {
        if (staged) {
          await rm(staged.dataTmp, { force: true });
          if (staged.metaTmp) await rm(staged.metaTmp, { force: true });
        }
      }
    },

    async get(key, options = {}): Promise<GetResult> {
      const path = pathOf(key);
      let handle;
      try {
        handle = await open(path, 'r');
      } catch (err) {
        if (isCode(err, 'EISDIR')) throw notFound(ctx('get', key));
        if (isCode(err, 'ENOENT') || isCode(err, 'ENOTDIR')) return whenMissing(ctx('get', key), () => { throw notFound(ctx('get', key)); });
        throw fsError(ctx('get', key), err);
      }
      try {
        const st = await handle.stat();
        if (!st.isFile()) throw notFound(ctx('get', key));
        const where = `${location}/${key}`;
        const file = identityOf(st);
        const match = matchByFile(await readSidecar(path, where), file);
        const range = options.range;
        const raw = () =>
          createReadStream('', {
            fd: handle,
            highWaterMark: 1024 * 1024,
            ...(range ? { start: range.start, ...(range.end === undefined ? {} : { end: range.end }) } : {}),
          });
        let binding: Binding | undefined;
        let body: Readable;
        if ('settled' in match) {
          binding = match.settled;
          body = raw();
        } else if (match.candidates.length === 0) {
          throw mismatch([], file, undefined, where);
        } else if (range === undefined && match.candidates.length === 1) {
          // A whole read of a copied object: checked as it streams, so it is read once.
          binding = match.candidates[0]!;
          body = verifiedRead(raw(), verifyingStream(binding, file, where));
        } else {
          binding = matchByContent(match.candidates, file, await hashStored(handle, st.size), where);
          body = raw();
        }
        const metadata = binding?.metadata;
        return { body, info: { key, size: st.size, lastModified: st.mtime, ...(metadata ? { metadata } : {}) } };
      } catch (err) {
        await handle.close().catch(() => undefined);
        throw fsError(ctx('get', key), err);
      }
    },

    stat: async (key) => info(key, pathOf(key)),

    async listPage(prefix, options = {}): Promise<ListPage> {
      const pageSize = options.pageSize ?? 1000;
      const objects: ObjectInfo[] = [];
      // The walk takes a missing directory for an empty one, which is right below the root only.
      if (await rootMissing()) throw noRoot(ctx('list', prefix));
      try {
        for await (const entry of walkKeys(root, prefix, options.token ?? options.startAfter)) {
          if (objects.length === pageSize) return { objects, nextToken: objects[objects.length - 1]!.key };
          objects.push({ key: entry.key, size: entry.size, lastModified: entry.mtime });
        }
      } catch (err) {
        throw fsError(ctx('list', prefix), err);
      }
      return { objects };
    },

    async deleteMany(keys) {
      if (keys.length > 0 && (await rootMissing())) throw noRoot(ctx('delete'));
      try {
        for (const key of keys) {
          const path = pathOf(key);
          await unlink(path).catch(ignoreMissing);
          await unlink(metaPathFor(path)).catch(ignoreMissing);
        }
      } catch (err) {
        throw fsError(ctx('delete'), err);
      }
    },

    close: async () => undefined,
  };
}

/** raw's bytes through the verifier: raw's errors become the body's, and a body let go of early closes the file. */
function verifiedRead(raw: Readable, verifier: Transform): Readable {
  raw.on('error', (err) => verifier.destroy(err));
  verifier.on('close', () => raw.destroy());
  return raw.pipe(verifier);
}

function isCode(err: unknown, code: string): boolean {
  return (err as { code?: unknown } | null)?.code === code;
}

/** write(2) may take less than asked. */
async function writeAll(handle: FileHandle, chunk: Buffer): Promise<void> {
  for (let at = 0; at < chunk.length; ) at += (await handle.write(chunk, at, chunk.length - at)).bytesWritten;
}

function ignoreMissing(err: unknown): void {
  if (!isCode(err, 'ENOENT') && !isCode(err, 'ENOTDIR')) throw err;
}

function missingRootError(ctx: ErrorContext, root: string): WalshipError {
  const where = ctx.key === undefined ? ctx.location : `${ctx.location}/${ctx.key}`;
  return new WalshipError(
    'STORE_NO_BUCKET',
    `${ctx.op} ${where}: the store's root directory ${root} does not exist (a volume not mounted, or the directory moved away?); walship never creates it on its own: check the mount, or create a new archive with \`walship st init\``,
    { details: { op: ctx.op, root } },
  );
}

function fsError(ctx: ErrorContext, err: unknown): WalshipError {
  if (err instanceof WalshipError) return err;
  const errno = (err as { code?: string }).code ?? 'unknown';
  const where = ctx.key === undefined ? ctx.location : `${ctx.location}/${ctx.key}`;
  const detail = err instanceof Error ? err.message : String(err);
  const code = errno === 'EACCES' || errno === 'EPERM' ? 'STORE_FORBIDDEN' : errno === 'EIO' || errno === 'EAGAIN' ? 'STORE_REQUEST_FAILED' : 'STORE_REJECTED';
  return new WalshipError(code, `${ctx.op} ${where}: ${detail}`, { cause: err, details: { op: ctx.op, errno } });
}
