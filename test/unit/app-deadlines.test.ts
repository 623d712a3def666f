import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Deadlines, type Expiring } from '../../src/server/app/deadlines';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function entry(name: string, expired: string[]): Expiring {
  return { expire: () => expired.push(name), deadlineAt: -1, olderEntry: undefined, newerEntry: undefined };
}

test('deadlines expire in the order they were added, each after its own time; a removed one never expires', async () => {
  const expired: string[] = [];
  const deadlines = new Deadlines(100);
  const first = entry('first', expired);
  const removed = entry('removed', expired);
  deadlines.add(first);
  deadlines.add(removed);
  await sleep(60);
  deadlines.add(entry('later', expired));
  deadlines.delete(removed);
  await sleep(70);
  assert.deepEqual(expired, ['first'], 'the first after 100 ms, the later one not yet');
  assert.equal(deadlines.size, 1);
  await sleep(80);
  assert.deepEqual(expired, ['first', 'later']);
  assert.equal(deadlines.size, 0);
  deadlines.delete(removed);
  assert.equal(deadlines.size, 0, 'removing one that is not listed changes nothing');
  deadlines.add(entry('after a pause', expired));
  await sleep(150);
  assert.deepEqual(expired, ['first', 'later', 'after a pause'], 'the timer is armed again once all had expired');
});

test('removing the oldest deadline, or others from within an expiry, leaves the rest to expire in order', async () => {
  const expired: string[] = [];
  const deadlines = new Deadlines(40);
  const oldest = entry('oldest', expired);
  const b = entry('b', expired);
  const c = entry('c', expired);
  deadlines.add(oldest);
  deadlines.add({ ...entry('a', expired), expire: () => {
    expired.push('a');
    deadlines.delete(c);
    deadlines.add(entry('added while expiring', expired));
  } });
  deadlines.add(b);
  deadlines.add(c);
  deadlines.delete(oldest);
  await sleep(70);
  assert.deepEqual(expired, ['a', 'b'], 'c was removed by a\'s expiry');
  await sleep(60);
  assert.deepEqual(expired, ['a', 'b', 'added while expiring']);
  assert.equal(deadlines.size, 0);
});
