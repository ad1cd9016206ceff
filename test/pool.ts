/** settledPool: bounded concurrency; after a failure nothing new starts, in-flight tasks settle first. */
import t from 'tap';
import { settledPool } from '../src/ops/pool.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('runs every item, at most `concurrency` at once', async (t) => {
  let running = 0;
  let most = 0;
  const seen: number[] = [];
  await settledPool([...Array(20).keys()], 3, async (item, i) => {
    t.equal(item, i);
    running++;
    most = Math.max(most, running);
    await sleep(1 + (i % 3));
    seen.push(item);
    running--;
  });
  t.equal(most, 3);
  t.same(
    seen.sort((a, b) => a - b),
    [...Array(20).keys()],
  );
  await settledPool([], 4, () => Promise.reject(new Error('never called')));
});

t.test(
  'after the first failure: no new task, in-flight tasks finish, first error thrown',
  async (t) => {
    const started: number[] = [];
    const finished: number[] = [];
    let rejectedAt: number[] | undefined;
    const p = settledPool([...Array(50).keys()], 4, async (i) => {
      started.push(i);
      if (i === 5) {
        await sleep(1);
        throw new Error('first');
      }
      if (i === 6) {
        await sleep(5);
        throw new Error('second');
      }
      await sleep(20);
      finished.push(i);
    }).catch((e: unknown) => {
      rejectedAt = [...finished];
      throw e;
    });
    await t.rejects(p, { message: 'first' });
    t.ok(started.length < 50, `stopped starting tasks (${started.length} started)`);
    const inFlight = started.filter((i) => i !== 5 && i !== 6);
    t.same(
      rejectedAt?.sort((a, b) => a - b),
      inFlight.sort((a, b) => a - b),
      'every started task had finished before the pool rejected',
    );
  },
);
