import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { registerAgentCommands } from './commands/agent.ts';
import { registerConfigCommands } from './commands/config.ts';
import { registerBackupCommands } from './commands/backup.ts';
import { registerBackupFetch } from './commands/backup-fetch.ts';
import { registerCheckCommand } from './commands/check.ts';
import { registerWalVerifyCommand } from './commands/wal-verify.ts';
import { registerDemoCommand } from './commands/demo.ts';
import { registerRetentionCommands } from './commands/delete.ts';
import { registerStorageTools } from './commands/st.ts';
import { registerDrillCommand } from './commands/drill.ts';
import { registerVerifyCommands } from './commands/verify.ts';
import { registerWalCommands } from './commands/wal.ts';
import { CommandContext, flagSettings } from './context.ts';
import { addHelpExamples } from './help-examples.ts';
import type { CommandIO } from './io.ts';

/** Runs a command body with its context and records its exit code. */
export type CommandRunner = (run: (ctx: CommandContext) => Promise<number | void>) => Promise<void>;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/**
 * Builds the command tree. `exitCode` receives each command's result; the
 * entry point alone turns it into the process's exit.
 */
export function buildProgram(io: CommandIO, exitCode: (code: number) => void): Command {
  const program = new Command('walship')
    .description('WAL archiving for PostgreSQL: WAL-G-compatible wal-push and wal-fetch, base backups and point-in-time recovery, to S3, GCS, Azure Blob or a filesystem.')
    .version(version(), '-V, --version', 'print the version')
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .exitOverride()
    .showHelpAfterError('(run walship --help for usage)')
    .option('--set <NAME=VALUE>', 'set any non-secret setting by its variable name, e.g. --set WALSHIP_STORE_TIMEOUT=10s (repeatable)', (v: string, acc: string[] = []) => [...acc, v]);
  for (const spec of flagSettings()) {
    program.addOption(new Option(`--${spec.flag} <value>`, `${spec.doc} (${spec.name})`));
  }

  const runner: CommandRunner = async (run) => {
    const ctx = new CommandContext(program, io);
    exitCode((await run(ctx)) ?? 0);
  };
  registerWalCommands(program, runner);
  registerAgentCommands(program, runner);
  registerBackupCommands(program, runner);
  registerBackupFetch(program, runner);
  registerVerifyCommands(program, runner);
  registerDrillCommand(program, runner);
  registerRetentionCommands(program, runner);
  registerStorageTools(program, runner);
  registerCheckCommand(program, runner);
  registerWalVerifyCommand(program, runner);
  registerDemoCommand(program, runner);
  registerConfigCommands(program, runner);
  addHelpExamples(program);
  return program;
}
