/**
 * Running async tasks a few at a time, and failing cleanly: after the first failure no new
 * task starts, the tasks already in flight are waited for (settled, whatever their outcome),
 * and only then is the first error thrown. A caller that cleans up after a failure (removes a
 * temporary directory) thus never races a task that is still writing into it, and the error it
 * reports is the cause, not a consequence of the cleanup.
 */

/**
 * Run `task` over `items`, at most `concurrency` at once, in the order of `items`.
 * @throws the first error a task threw, after every started task has settled
 */
export async function settledPool<T>(
  items: readonly T[],
  concurrency: number,
  task: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const i = next++;
      try {
        await task(items[i] as T, i);
      } catch (e) {
        failure ??= { error: e };
      }
    }
  };
  // Lanes never reject, so Promise.all waits for every one of them (allSettled semantics).
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, lane));
  if (failure !== undefined) throw failure.error;
}
