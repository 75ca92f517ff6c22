import { existsSync } from 'node:fs';
import { join } from 'node:path';

// Prometheus' promtool (Debian's prometheus package, installed by
// .ci/install-deps): the tests that use it fail without it, never skip.

export function promtoolPath(): string {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const p = join(dir, 'promtool');
    if (existsSync(p)) return p;
  }
  throw new Error('promtool is not installed: run .ci/install-deps (it installs Debian\'s prometheus package)');
}
