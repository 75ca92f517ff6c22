// WAL objects as WAL-G writes them, for tests that walship reads a WAL-G
// archive. Each follows WAL-G's compressor for that method, in wal-g/wal-g's
// internal/compression/:
//   lz4/compressor.go     pierrec/lz4's Writer: ONE frame, 4 MiB independent
//                         blocks, a content checksum (lz4 -B7 -BI writes the same);
//   lzma/compressor.go    ulikunitz/xz/lzma's Writer: "LZMA alone", size -1 in
//                         the header, an end marker (xz --format=lzma);
//   zstd/compressor.go    DataDog/zstd at level 3 (zstd -3);
//   brotli/compressor.go  cbrotli at quality 3 (node:zlib has the same library);
//   none/compressor.go    the bytes, under the empty extension: WAL-G <= 3.0.8
//                         names the object `<name>.`.
// The key is wal_005/<name>.<extension>, with no metadata: WAL-G writes none.

import { execFile } from 'node:child_process';
import { constants, brotliCompressSync } from 'node:zlib';
import { Readable } from 'node:stream';
import type { StorageDriver } from '../../agent/storage/driver.ts';
import { WAL_PREFIX } from '../../agent/wal/layout.ts';

export const WALG_COMPRESSIONS = ['lz4', 'lzma', 'zstd', 'brotli', 'none'] as const;
export type WalgCompression = (typeof WALG_COMPRESSIONS)[number];

const EXTENSIONS: Readonly<Record<WalgCompression, string>> = { lz4: 'lz4', lzma: 'lzma', zstd: 'zst', brotli: 'br', none: '' };

/** Pipes `plain` through a command-line compressor. */
async function tool(command: string, args: string[], plain: Buffer): Promise<Buffer> {
  const child = execFile(command, args, { encoding: 'buffer', maxBuffer: 64 << 20 });
  const out: Buffer[] = [];
  child.stdout!.on('data', (c: Buffer) => out.push(c));
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${command} exited ${code}`))));
  });
  child.stdin!.end(plain);
  await done;
  return Buffer.concat(out);
}

export async function walgCompress(compression: WalgCompression, plain: Buffer): Promise<Buffer> {
  switch (compression) {
    case 'lz4':
      return tool('lz4', ['-q', '-c', '-B7', '-BI'], plain);
    case 'lzma':
      return tool('xz', ['--format=lzma', '-c'], plain);
    case 'zstd':
      return tool('zstd', ['-q', '-c', '-3'], plain);
    case 'brotli':
      return brotliCompressSync(plain, { params: { [constants.BROTLI_PARAM_QUALITY]: 3 } });
    case 'none':
      return plain;
  }
}

export function walgKey(name: string, compression: WalgCompression): string {
  return `${WAL_PREFIX}${name}.${EXTENSIONS[compression]}`;
}

/** Stores `plain` as WAL-G would archive WAL file `name`; returns the key. */
export async function putWalgObject(store: StorageDriver, name: string, compression: WalgCompression, plain: Buffer): Promise<string> {
  const key = walgKey(name, compression);
  const body = await walgCompress(compression, plain);
  await store.put(key, () => Readable.from([body]), { contentLength: body.length });
  return key;
}

