import { open } from 'node:fs/promises';

/** Flips bits of one byte in place, as bit rot or a tampering hand would: flipping it again restores the file. */
export async function flipByte(path: string, offset: number): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    const b = Buffer.alloc(1);
    await handle.read(b, 0, 1, offset);
    b[0] = b[0]! ^ 0x5a;
    await handle.write(b, 0, 1, offset);
  } finally {
    await handle.close();
  }
}
