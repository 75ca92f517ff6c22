// Runs queued tasks, at most `limit` at a time, in the order they came.
// Tasks must handle their own errors: a rejection here is a bug and is
// left unhandled so that it is loud.

export class TaskLimiter {
  readonly #limit: number;
  readonly #queue: (() => Promise<void>)[] = [];
  #running = 0;
  #idleWaiters: (() => void)[] = [];

  constructor(limit: number) {
    this.#limit = limit;
  }

  run(task: () => Promise<void>): void {
    this.#queue.push(task);
    this.#pump();
  }

  /** Resolves when nothing is running or queued. */
  idle(): Promise<void> {
    if (this.#running === 0 && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #pump(): void {
    while (this.#running < this.#limit) {
      const task = this.#queue.shift();
      if (task === undefined) break;
      this.#running++;
      void task().finally(() => {
        this.#running--;
        this.#pump();
      });
    }
    if (this.#running === 0 && this.#queue.length === 0) {
      for (const resolve of this.#idleWaiters.splice(0)) resolve();
    }
  }
}
