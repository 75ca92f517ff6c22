// Just enough Markdown for the docs tests: sections by heading, fenced
// blocks, and links. The pages are ours, so no general parser is needed.

/** The text under a heading (any level), up to the next heading of the same or a higher level. */
export function section(markdown: string, heading: string): string {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => /^#{1,6} /.test(l) && l.replace(/^#+ /, '').trim() === heading);
  if (start < 0) throw new Error(`no heading "${heading}"`);
  const level = /^#+/.exec(lines[start]!)![0].length;
  let end = start + 1;
  let fenced = false;
  for (; end < lines.length; end++) {
    if (lines[end]!.startsWith('```')) fenced = !fenced;
    const m = /^(#+) /.exec(lines[end]!);
    if (!fenced && m && m[1]!.length <= level) break;
  }
  return lines.slice(start + 1, end).join('\n');
}

/** The contents of the fenced code blocks, with their info strings. */
export function fencedBlocks(markdown: string): { info: string; body: string }[] {
  const blocks: { info: string; body: string }[] = [];
  const re = /^```([^\n]*)\n([\s\S]*?)^```$/gm;
  for (const m of markdown.matchAll(re)) blocks.push({ info: m[1]!.trim(), body: m[2]! });
  return blocks;
}

/** Markdown links' targets, outside code blocks and code spans. */
export function linkTargets(markdown: string): string[] {
  const prose = markdown.replace(/^```[\s\S]*?^```$/gm, '').replace(/`[^`\n]*`/g, '');
  return [...prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1]!);
}
