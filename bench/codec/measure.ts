// Times the codec on one in-memory object. Every configuration is timed once
// per round, round after round, so that load from elsewhere on the machine
// spreads over all of them instead of skewing whichever ran at that moment;
// medians over the rounds are reported.

import { Readable } from 'node:stream';
import type { Codec } from '../../agent/codec/index.ts';

/** Same chunking as a file stream, so per-chunk costs show as they would in use. */
const SOURCE_CHUNK_BYTES = 64 << 10;

export interface Sample {
  encodeMs: number;
  decodeMs: number;
  storedBytes: number;
}

export interface Measurement {
  label: string;
  storedBytes: number;
  encodeMiBps: number;
  decodeMiBps: number;
}

function chunked(data: Buffer): Readable {
  const chunks: Buffer[] = [];
  for (let i = 0; i < data.length; i += SOURCE_CHUNK_BYTES) chunks.push(data.subarray(i, i + SOURCE_CHUNK_BYTES));
  return Readable.from(chunks);
}

/** Collects the output without joining it: joining 16 MiB costs as much as some codecs. */
async function drain(stream: Readable): Promise<Buffer[]> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return parts;
}

/** One encode and one decode of `plain`, checked to round-trip. */
export async function timeOnce(label: string, codec: Codec, plain: Buffer): Promise<Sample> {
  const t0 = performance.now();
  const stored = await drain(codec.encode(chunked(plain)));
  const t1 = performance.now();
  const decoded = await drain(codec.decode(Readable.from(stored), codec.encoding));
  const t2 = performance.now();
  if (!Buffer.concat(decoded).equals(plain)) throw new Error(`${label}: decoded data differs from the input`);
  return { encodeMs: t1 - t0, decodeMs: t2 - t1, storedBytes: stored.reduce((n, part) => n + part.length, 0) };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function summarize(label: string, plainBytes: number, samples: Sample[]): Measurement {
  const mib = plainBytes / (1 << 20);
  return {
    label,
    storedBytes: samples[samples.length - 1]!.storedBytes,
    encodeMiBps: mib / (median(samples.map((s) => s.encodeMs)) / 1000),
    decodeMiBps: mib / (median(samples.map((s) => s.decodeMs)) / 1000),
  };
}

export function formatTable(plainBytes: number, rows: Measurement[]): string {
  const header = ['codec', 'compress MiB/s', 'decompress MiB/s', 'stored bytes', 'ratio'];
  const lines = rows.map((r) => [
    r.label,
    r.encodeMiBps.toFixed(0),
    r.decodeMiBps.toFixed(0),
    String(r.storedBytes),
    `${((r.storedBytes / plainBytes) * 100).toFixed(1)} %`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const row = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [row(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(row)].join('\n');
}
