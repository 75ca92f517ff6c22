/**
 * Runs `work` on every item with at most `limit` running at once. The first
 * failure, or an abort, stops new work from starting; it is thrown once
 * the running ones settle.
 */
export async function forEachBounded<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>, signal?: AbortSignal): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (failure === undefined && next < items.length) {
      if (signal?.aborted) failure = { error: signal.reason };
      else {
        const item = items[next++]!;
        await work(item).catch((error: unknown) => void (failure ??= { error }));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
}
