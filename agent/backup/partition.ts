import type { ScannedFile } from './scan.ts';

// Spreads files over parts of about `target` bytes, largest first, so that
// parts upload (and later download) in parallel and end at about the same time.

export function partition(files: readonly ScannedFile[], target: number, minParts: number): ScannedFile[][] {
  const total = files.reduce((sum, f) => sum + f.size, 0);
  const count = Math.max(1, minParts, Math.ceil(total / target));
  const parts = Array.from({ length: Math.min(count, Math.max(1, files.length)) }, () => ({ bytes: 0, files: [] as ScannedFile[] }));
  for (const file of [...files].sort((a, b) => b.size - a.size)) {
    let smallest = parts[0]!;
    for (const p of parts) if (p.bytes < smallest.bytes) smallest = p;
    smallest.files.push(file);
    smallest.bytes += file.size;
  }
  // Within a part, path order: a restore then writes each directory's files together.
  return parts.filter((p) => p.files.length > 0).map((p) => p.files.sort((a, b) => (a.path < b.path ? -1 : 1)));
}
