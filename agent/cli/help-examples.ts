import type { Command } from 'commander';

// The example lines `walship --help` and each command's --help end with:
// a newcomer copies a line before reading the option list. Kept in one
// table, keyed by the command's path, so a test can see that every command
// has one and that every line runs a command that exists.

interface Examples {
  lines: readonly string[];
  /** The docs page that says more. */
  page: string;
}

export const HELP_EXAMPLES: Readonly<Record<string, Examples>> = {
  walship: {
    lines: [
      'walship demo                                  # the whole job on a throwaway cluster, then cleaned up',
      "archive_command = 'walship wal-push %p'       # postgresql.conf, without the agent",
      'walship st check write                        # can the configured store be written?',
    ],
    page: 'README.md',
  },
  'wal-push': { lines: ["archive_command = 'walship wal-push %p'", 'WALG_FILE_PREFIX=/mnt/archive walship wal-push pg_wal/000000010000000000000001'], page: 'docs/wal-archiving.md' },
  'wal-fetch': { lines: ["restore_command = 'walship wal-fetch %f %p'"], page: 'docs/wal-archiving.md' },
  agent: { lines: ['WALSHIP_ENVDIR=/etc/walship/secret walship agent --pgdata /var/lib/postgresql/data'], page: 'docs/agent.md' },
  'install-client': { lines: ['walship install-client /walship                # then archive_command = \'/walship/walship-client wal-push %p\''], page: 'docs/wal-archiving.md' },
  check: { lines: ['walship check                                 # every step of the archiving chain, or the first that fails', 'walship check --json --no-switch'], page: 'docs/checks.md' },
  'wal-verify': { lines: ['walship wal-verify integrity timeline', 'walship wal-verify integrity --json'], page: 'docs/checks.md' },
  'backup-push': { lines: ['walship backup-push $PGDATA', 'walship backup-push --permanent --add-user-data \'{"ticket":"OPS-1"}\''], page: 'docs/backups.md' },
  'backup-list': { lines: ['walship backup-list --detail'], page: 'docs/backups.md' },
  'backup-show': { lines: ['walship backup-show LATEST --files'], page: 'docs/backups.md' },
  'backup-fetch': {
    lines: ['walship backup-fetch /var/lib/postgresql/data LATEST', "walship backup-fetch /srv/clone LATEST --target-time '2025-01-31 12:00:00+00'"],
    page: 'docs/backups.md',
  },
  'backup-verify': { lines: ['walship backup-verify LATEST', 'walship backup-verify --all --json'], page: 'docs/restore-drills.md' },
  'restore-drill': { lines: ['walship restore-drill', "walship restore-drill LATEST --amcheck --query 'select count(*) > 0 from orders' --json"], page: 'docs/restore-drills.md' },
  'backup-mark': { lines: ['walship backup-mark base_000000010000000000000004', 'walship backup-mark base_000000010000000000000004 --impermanent'], page: 'docs/retention.md' },
  delete: { lines: ['walship delete retain 7                       # prints the plan', 'walship delete retain 7 --confirm             # deletes'], page: 'docs/retention.md' },
  'delete retain': { lines: ['walship delete retain 7 --confirm'], page: 'docs/retention.md' },
  'delete before': { lines: ['walship delete before 2025-01-31T12:00:00Z --confirm'], page: 'docs/retention.md' },
  'delete window': { lines: ['walship delete window 7d --confirm'], page: 'docs/retention.md' },
  'delete everything': { lines: ['walship delete everything FORCE --confirm'], page: 'docs/retention.md' },
  'delete target': { lines: ['walship delete target base_000000010000000000000010 --confirm'], page: 'docs/retention.md' },
  'delete garbage': { lines: ['walship delete garbage --confirm', 'walship delete garbage ARCHIVES --confirm       # WAL only'], page: 'docs/retention.md' },
  st: { lines: ['walship st check write', 'walship st ls wal_005/'], page: 'docs/storage-tools.md' },
  'st ls': { lines: ['walship st ls basebackups_005/ -r --json'], page: 'docs/storage-tools.md' },
  'st get': { lines: ['walship st get probe/in.bin out.bin                # finds probe/in.bin.lz4, as st put stored it', 'walship st get --raw wal_005/000000010000000000000001.lz4 - | lz4 -d > seg'], page: 'docs/storage-tools.md' },
  'st put': { lines: ['walship st put in.bin probe/in.bin                 # prints the key stored: probe/in.bin.lz4'], page: 'docs/storage-tools.md' },
  'st rm': { lines: ['walship st rm probe/in.bin.lz4'], page: 'docs/storage-tools.md' },
  'st init': { lines: ['walship st init                               # creates a missing filesystem root, or says what the archive holds', 'walship st init --force                       # adopts an archive with WAL but no identity (one WAL-G wrote)'], page: 'docs/storage-tools.md' },
  'st check': { lines: ['walship st check read', 'walship st check write'], page: 'docs/storage-tools.md' },
  demo: { lines: ['walship demo', 'walship demo --scale 20 --seconds 10 --keep'], page: 'README.md' },
  config: { lines: ['walship config show', 'walship config reference'], page: 'docs/configuration.md' },
  'config show': { lines: ['WALSHIP_ENVDIR=/etc/walship/secret walship config show'], page: 'docs/configuration.md' },
  'config reference': { lines: ['walship config reference > configuration-reference.md'], page: 'docs/configuration.md' },
  'config metrics': { lines: ['walship config metrics'], page: 'docs/metrics.md' },
};

/** A command's path below the program: 'st get'; the program itself is 'walship'. */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.length === 0 ? cmd.name() : names.join(' ');
}

/** Every command of the tree, the program first. */
export function allCommands(program: Command): Command[] {
  return [program, ...program.commands.flatMap((c) => allCommands(c))];
}

export function addHelpExamples(program: Command): void {
  for (const cmd of allCommands(program)) {
    const ex = HELP_EXAMPLES[commandPath(cmd)];
    if (ex === undefined) continue;
    cmd.addHelpText('after', `\nExamples:\n${ex.lines.map((l) => `  ${l}`).join('\n')}\n\nMore: ${ex.page} in the walship directory.\n`);
  }
}
