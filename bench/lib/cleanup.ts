// One place that undoes everything a bench created (clusters, agents, temp
// dirs), in reverse order, whether the bench ends normally, throws, or is
// interrupted: a bench leaves gigabytes of data directories and running
// servers behind otherwise.

type Undo = { label: string; run: () => Promise<unknown> };

export class Cleanup {
  private readonly undos: Undo[] = [];
  private running: Promise<void> | undefined;
  /** Set once a signal arrived: the failures that follow (children killed by the same signal) are expected. */
  interrupted = false;

  /** Registers an undo step; returns a function that runs it now (and only once). */
  defer(label: string, run: () => Promise<unknown>): () => Promise<void> {
    const undo: Undo = { label, run };
    this.undos.push(undo);
    return async () => {
      const i = this.undos.indexOf(undo);
      if (i < 0) return;
      this.undos.splice(i, 1);
      await run();
    };
  }

  /** Runs every pending undo, newest first; failures are reported, never thrown, so the rest still run. */
  runAll(): Promise<void> {
    this.running ??= (async () => {
      while (this.undos.length > 0) {
        const undo = this.undos.pop()!;
        try {
          await undo.run();
        } catch (err) {
          process.stderr.write(`cleanup: ${undo.label} failed: ${(err as Error).message}\n`);
        }
      }
    })();
    return this.running;
  }

  /** On SIGINT/SIGTERM: clean up, then exit with the shell's code for the signal. */
  onSignals(): void {
    for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
      process.once(signal, () => {
        this.interrupted = true;
        process.stderr.write(`\n${signal}: cleaning up\n`);
        void this.runAll().finally(() => process.exit(code));
      });
    }
  }
}
