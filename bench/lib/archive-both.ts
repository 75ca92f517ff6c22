import { chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { writeOwned } from '../../test/support/pg-cluster.ts';

/**
 * archive_command for a bench that compares walship with pgBackRest: both
 * tools push each segment at the same time, so neither backup's wait for
 * its stop segment includes the other's push (`a && b` would make
 * pgBackRest wait for walship's Node start-up). Fails unless both succeed.
 */
export async function bothPushScript(dir: string, walshipPush: string, pgbackrestPush: string): Promise<string> {
  // pgBackRest's backup refuses an archive_command that does not contain "pgbackrest" (and walship warns without "walship").
  const path = join(dir, 'archive-push-walship-and-pgbackrest.sh');
  const to = (cmd: string) => cmd.replace('%p', '"$1"');
  await writeOwned(path, `#!/bin/sh\n${to(walshipPush)} &\nw=$!\n${to(pgbackrestPush)}\np=$?\nwait $w\nws=$?\n[ $p -eq 0 ] && [ $ws -eq 0 ]\n`);
  await chmod(path, 0o755);
  return `${path} %p`;
}
