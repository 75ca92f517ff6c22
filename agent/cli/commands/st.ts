import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { pipeline } from 'node:stream/promises';
import { createCodec, encodingFromMetadata, encodingMetadata, extensionFor } from '../../codec/index.ts';
import { WalshipError } from '../../errors.ts';
import { listAll } from '../../storage/list.ts';
import { checkStore } from '../../storage/check.ts';
import { writeFileAtomic } from '../../util/atomic-file.ts';
import { writeLine } from '../io.ts';
import type { CommandRunner } from '../program.ts';
import { getAsPut } from './st-lookup.ts';

// `walship st`: the storage tools, the first thing a user runs to see that
// their Secret works, and the way to look inside an archive by hand.

export function registerStorageTools(program: Command, run: CommandRunner): void {
  const st = program.command('st').description('storage tools: list, read, write, remove and check objects in the configured store');

  st.command('ls')
    .description('list objects under a prefix (one level, like a directory, unless --recursive)')
    .argument('[prefix]', 'key prefix, e.g. wal_005/', '')
    .option('-r, --recursive', 'list every object under the prefix')
    .option('--json', 'print one JSON object per line')
    .action((prefix: string, opts: { recursive?: boolean; json?: boolean }) =>
      run(async (ctx) => {
        const { driver } = await ctx.store();
        try {
          const base = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
          const shownDirs = new Set<string>();
          for await (const o of listAll(driver, prefix)) {
            const rest = o.key.startsWith(base) ? o.key.slice(base.length) : o.key;
            const slash = rest.indexOf('/');
            if (!opts.recursive && slash >= 0) {
              const dir = base + rest.slice(0, slash + 1);
              if (shownDirs.has(dir)) continue;
              shownDirs.add(dir);
              writeLine(ctx.io.stdout, opts.json ? JSON.stringify({ type: 'dir', key: dir }) : `${'DIR'.padStart(12)}  ${''.padEnd(24)}  ${dir}`);
              continue;
            }
            writeLine(
              ctx.io.stdout,
              opts.json
                ? JSON.stringify({ type: 'object', key: o.key, size: o.size, lastModified: o.lastModified.toISOString() })
                : `${String(o.size).padStart(12)}  ${o.lastModified.toISOString().padEnd(24)}  ${o.key}`,
            );
          }
        } finally {
          await driver.close();
        }
      }),
    );

  st.command('get')
    .description('download an object, decrypting and decompressing it as it was written (write to - for stdout); a key without its compression extension finds the object st put stored for it')
    .argument('<key>', 'object key, as stored or as given to st put')
    .argument('<dest>', 'destination file, or - for standard output')
    .option('--raw', 'write the stored bytes as they are, without decrypting or decompressing')
    .action((key: string, dest: string, opts: { raw?: boolean }) =>
      run(async (ctx) => {
        const { config, driver } = await ctx.store();
        try {
          const codec = opts.raw ? undefined : await createCodec(config.codec);
          const found = await getAsPut(driver, key);
          if (found.key !== key) writeLine(ctx.io.stderr, `st get: ${key} is stored as ${found.key}`);
          const { body, info } = found;
          const out = codec ? codec.decode(body, encodingFromMetadata(found.key, info.metadata, config.codec.pgp !== undefined)) : body;
          if (dest === '-') await pipeline(out, ctx.io.stdout, { end: false });
          else await writeFileAtomic(dest, out, { mode: 0o644 });
        } finally {
          await driver.close();
        }
      }),
    );

  st.command('put')
    .description('upload a file, compressed and encrypted as configured; the compression extension is appended to the key')
    .argument('<source>', 'file to upload, or - for standard input')
    .argument('<key>', 'object key')
    .option('--raw', 'store the bytes as they are, under exactly the given key')
    .option('--no-overwrite', 'fail if an object already exists under the key')
    .action((source: string, key: string, opts: { raw?: boolean; overwrite: boolean }) =>
      run(async (ctx) => {
        if (source === '-') {
          // Standard input cannot be re-read, so a retried upload could not start over.
          throw new WalshipError('USAGE', 'st put reads a file: standard input cannot be replayed if the store asks for a retry');
        }
        await stat(source).catch((err: unknown) => {
          throw new WalshipError('IO_FAILED', `st put: cannot read ${source} (${(err as { code?: string }).code ?? String(err)})`, { cause: err });
        });
        const { config, driver } = await ctx.store();
        try {
          const codec = opts.raw ? undefined : await createCodec(config.codec);
          const finalKey = codec ? key + extensionFor(codec.encoding.compression) : key;
          const body = () => (codec ? codec.encode(createReadStream(source)) : createReadStream(source));
          const metadata = codec ? encodingMetadata(codec.encoding) : {};
          if (opts.overwrite) await driver.put(finalKey, body, { metadata });
          else if (!(await driver.putIfAbsent(finalKey, body, { metadata }))) {
            throw new WalshipError('STORE_REJECTED', `st put: ${finalKey} already exists in ${driver.location}; not overwritten`);
          }
          writeLine(ctx.io.stdout, finalKey);
        } finally {
          await driver.close();
        }
      }),
    );

  st.command('rm')
    .description('delete objects')
    .argument('<keys...>', 'object keys')
    .action((keys: string[]) =>
      run(async (ctx) => {
        const { driver } = await ctx.store();
        try {
          await driver.deleteMany(keys);
        } finally {
          await driver.close();
        }
      }),
    );

  st.command('init')
    .description("prepare the store for a new archive: creates a filesystem store's root directory (nothing else ever does); with --force, adopts an archive that holds WAL but no cluster identity")
    .option('--force', "record the identity of an archive that has WAL but no walship/cluster.json (WAL-G's, or one whose identity was deleted), from its newest segment")
    .action((opts: { force?: boolean }) =>
      run(async (ctx) => {
        const { config, store, driver } = await ctx.store();
        try {
          if (store.kind === 'fs') {
            const { createFsRoot } = await import('../../storage/fs/init.ts');
            if (await createFsRoot(store.root)) writeLine(ctx.io.stdout, `created ${store.root}`);
          }
          const [{ openWalArchive }, { initArchive }] = await Promise.all([import('../../wal/archive.ts'), import('../../wal/archive-init.ts')]);
          writeLine(ctx.io.stdout, await initArchive(await openWalArchive(config, driver), { force: opts.force === true }));
        } finally {
          await driver.close();
        }
      }),
    );

  st.command('check')
    .description('verify that the configured store can be read (read) or written (write, which also reads and deletes a probe object)')
    .argument('<mode>', 'read or write')
    .action((mode: string) =>
      run(async (ctx) => {
        if (mode !== 'read' && mode !== 'write') throw new WalshipError('USAGE', `st check ${mode}: expected read or write`);
        const { driver } = await ctx.store();
        try {
          const report = await checkStore(driver, mode);
          writeLine(ctx.io.stdout, report);
        } finally {
          await driver.close();
        }
      }),
    );
}
