// What to undo, newest first: a restored cluster stops before the agent it
// fetches WAL through, clusters and agents before their files are removed.
// Every action runs even when an earlier one fails.

export interface CleanupAction {
  what: string;
  run(): Promise<void>;
}

export class Cleanup {
  private readonly actions: CleanupAction[] = [];

  add(what: string, run: () => Promise<void>): void {
    this.actions.push({ what, run });
  }

  get size(): number {
    return this.actions.length;
  }

  /** Runs every action, newest first; returns what failed. */
  async runAll(): Promise<{ done: string[]; failed: { what: string; error: string }[] }> {
    const done: string[] = [];
    const failed: { what: string; error: string }[] = [];
    while (this.actions.length > 0) {
      const action = this.actions.pop()!;
      try {
        await action.run();
        done.push(action.what);
      } catch (err) {
        failed.push({ what: action.what, error: err instanceof Error ? err.message.split('\n')[0]! : String(err) });
      }
    }
    return { done, failed };
  }

  /** Forgets every action (--keep): what they would undo is left in place. */
  dropAll(): void {
    this.actions.length = 0;
  }
}
