import { WalshipError, isWalshipError } from '../errors.ts';
import { Cleanup } from './cleanup.ts';
import type { DemoHost, DemoOptions } from './host.ts';
import { findPgTools } from './postgres-tools.ts';
import { Reporter, StepFailure } from './report.ts';
import { DemoSteps } from './steps.ts';
import { Workspace } from './workspace.ts';

// `walship demo`: a throwaway cluster archives through the agent into a
// local store, is backed up and restored to a point in time on a second
// cluster, and the data is compared. Everything is undone at the end, on
// failure and on Ctrl-C too, unless --keep.

export async function runDemo(host: DemoHost, options: DemoOptions): Promise<number> {
  const tools = await findPgTools(options.pgBin, { PATH: host.path });
  const report = new Reporter(host.out, host.interactive);
  const cleanup = new Cleanup();
  const abort = new AbortController();
  let interrupted: string | undefined;
  void host.untilStop.then((signal) => {
    interrupted = signal;
    abort.abort(new WalshipError('INTERNAL', `interrupted by ${signal}`));
  });

  const ws = await Workspace.create(host.tmpRoot, tools);
  cleanup.add('workspace removed', () => ws.remove());
  report.line(`walship demo: a throwaway PostgreSQL ${tools.version} cluster archives its WAL through the walship agent into a local store,`);
  report.line('is backed up, and is restored to a point in time into a second cluster; then the data is compared.');
  report.line(`workspace ${ws.root} (paths below are relative to it)`);
  report.line();

  const steps = new DemoSteps(host, options, tools, ws, cleanup, abort.signal);
  let failure: unknown;
  try {
    await report.step('cluster', 'creating a PostgreSQL cluster', () => steps.createPrimary());
    await report.step('agent', 'starting the walship agent and PostgreSQL', () => steps.startPrimary());
    await report.step('load', `pgbench -i -s ${options.scale}`, () => steps.load());
    await report.step('backup', 'walship backup-push', () => steps.takeBackup());
    await report.step('workload', `pgbench for ${options.seconds} s`, () => steps.workload());
    await report.step('archive', 'waiting for the WAL to reach the store', () => steps.archive());
    await report.step('restore', 'walship backup-fetch and point-in-time recovery', () => steps.restore());
    await report.step('check', 'comparing the restored data', () => steps.check());
  } catch (err) {
    failure = err;
  }
  // A signal after the last step changes nothing: the cleanup runs either way.
  const stoppedBy = interrupted;

  if (!stoppedBy) {
    try {
      const lines = await steps.metrics();
      if (lines.length > 0) report.row('metrics', undefined, lines[0]!, lines.slice(1));
    } catch (err) {
      report.row('metrics', undefined, `could not read /metrics: ${(err as Error).message}`);
    }
  } else {
    report.line();
    report.line(`interrupted (${stoppedBy}): ${options.keep ? 'leaving everything as it is (--keep)' : 'stopping and removing everything'}`);
  }

  if (options.keep) {
    for (const side of [steps.primary, steps.restored]) side?.agent?.detach();
    cleanup.dropAll();
    report.line();
    report.line('kept (--keep): the clusters and agents are still running.');
    for (const line of steps.keptLines()) report.line(`  ${line}`);
  } else {
    const started = Date.now();
    const { done, failed } = await cleanup.runAll();
    report.row('cleanup', Date.now() - started, done.join(', ') || 'nothing to undo');
    for (const f of failed) report.line(`    cleanup failed: ${f.what.replace(/ (stopped|removed)$/, '')}: ${f.error}`);
  }

  report.line();
  if (stoppedBy) return stoppedBy === 'SIGINT' ? 130 : 143;
  if (failure !== undefined) {
    const step = failure instanceof StepFailure ? failure.step : '?';
    const cause = failure instanceof StepFailure ? failure.cause : failure;
    report.line(`FAILED at step ${step}${options.keep ? '' : '; run with --keep to look at what was left'}`);
    if (isWalshipError(cause)) throw cause;
    throw new WalshipError('INTERNAL', `demo step ${step} failed: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
  if (!steps.comparison?.matched) {
    report.line('DATA MISMATCH: the restored cluster does not hold the data of the target time (see the check above).');
    throw new WalshipError('BACKUP_CORRUPT', 'walship demo: the data restored to the target time does not match what the primary held then');
  }
  report.line(`DATA MATCHED: restored to ${steps.target!.time}, the second cluster holds every change made before that moment and none made after it.`);
  return 0;
}
