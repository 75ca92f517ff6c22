import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { badRequest } from './gcs-errors.ts';

// A streaming reader of the multipart/related body of a JSON API upload:
// a JSON part with the object's fields, then the media part, which is
// written through to disk as it arrives rather than held in memory.

const SMALL_PART_LIMIT = 1024 * 1024;

class Scanner {
  private buf: Buffer = Buffer.alloc(0);
  private readonly source: AsyncIterator<Buffer>;

  constructor(source: AsyncIterable<Buffer>) {
    this.source = source[Symbol.asyncIterator]();
  }

  private async more(): Promise<void> {
    const next = await this.source.next();
    if (next.done) throw badRequest('Multipart body ended early.');
    this.buf = this.buf.length === 0 ? next.value : Buffer.concat([this.buf, next.value]);
  }

  /** The bytes before delim (which is consumed), for parts known to be small. */
  async readUntil(delim: Buffer): Promise<Buffer> {
    for (;;) {
      const at = this.buf.indexOf(delim);
      if (at >= 0) {
        const head = this.buf.subarray(0, at);
        this.buf = this.buf.subarray(at + delim.length);
        return head;
      }
      if (this.buf.length > SMALL_PART_LIMIT) throw badRequest('Multipart part too large.');
      await this.more();
    }
  }

  /** Writes the bytes before delim to out, keeping back only what could be the start of delim. */
  async pipeUntil(delim: Buffer, out: Writable): Promise<void> {
    for (;;) {
      const at = this.buf.indexOf(delim);
      if (at >= 0) {
        await write(out, this.buf.subarray(0, at));
        this.buf = this.buf.subarray(at + delim.length);
        return;
      }
      const safe = this.buf.length - (delim.length - 1);
      if (safe > 0) {
        await write(out, this.buf.subarray(0, safe));
        this.buf = this.buf.subarray(safe);
      }
      await this.more();
    }
  }

  async take(n: number): Promise<Buffer> {
    while (this.buf.length < n) await this.more();
    const head = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return head;
  }
}

async function write(out: Writable, chunk: Buffer): Promise<void> {
  if (chunk.length > 0 && !out.write(chunk)) await once(out, 'drain');
}

export function boundaryOf(contentType: string | undefined): string {
  const match = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType ?? '');
  const boundary = match?.[1] ?? match?.[2];
  if (!boundary) throw badRequest('Missing multipart boundary.');
  return boundary.trim();
}

/**
 * Reads the JSON part, asks `open` for the sink of the media part, and
 * streams the media into it. Resolves with the JSON and the media part's
 * Content-Type once the sink has taken every byte.
 */
export async function readRelated(
  body: AsyncIterable<Buffer>,
  boundary: string,
  open: (fields: Record<string, unknown>) => Promise<Writable>,
): Promise<{ fields: Record<string, unknown>; mediaType?: string }> {
  const scanner = new Scanner(body);
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  await scanner.readUntil(Buffer.from(`--${boundary}\r\n`));

  const jsonHeaders = headersOf(await scanner.readUntil(Buffer.from('\r\n\r\n')));
  if (!/json/i.test(jsonHeaders['content-type'] ?? '')) throw badRequest('The first part must be the JSON metadata.');
  let fields: Record<string, unknown>;
  try {
    fields = JSON.parse((await scanner.readUntil(delimiter)).toString() || '{}') as Record<string, unknown>;
  } catch {
    throw badRequest('Invalid JSON metadata part.');
  }
  await scanner.take(2); // CRLF after the delimiter

  const mediaHeaders = headersOf(await scanner.readUntil(Buffer.from('\r\n\r\n')));
  const sink = await open(fields);
  await scanner.pipeUntil(delimiter, sink);
  if ((await scanner.take(2)).toString() !== '--') throw badRequest('Expected exactly two multipart parts.');
  sink.end();
  await finished(sink);
  const mediaType = mediaHeaders['content-type'];
  return { fields, ...(mediaType ? { mediaType } : {}) };
}

function headersOf(block: Buffer): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of block.toString('latin1').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return headers;
}
