import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IdTable, SlotList } from '../../src/server/churn';

test('an IdTable finds values by id through many additions and removals, and counts them', () => {
  const table = new IdTable<string>();
  for (let id = 1; id <= 10_000; id++) {
    table.set(id, `request ${id}`);
    if (id > 50) assert.equal(table.delete(id - 50), true);
  }
  assert.equal(table.size, 50);
  assert.equal(table.get(9_951), 'request 9951');
  assert.equal(table.get(9_950), undefined);
  assert.equal(table.delete(9_950), false, 'a removed id is not removed twice');
  table.set(9_951, 'replaced');
  assert.equal(table.size, 50, 'setting an id again does not count it twice');
  assert.deepEqual(table.values().length, 50);
  assert.deepEqual(table.values().slice(0, 2), ['replaced', 'request 9952'], 'values in ascending id order');
  table.clear();
  assert.equal(table.size, 0);
  table.set(0, 'id 0');
  assert.equal(table.get(0), 'id 0');
  assert.equal(table.size, 1);
  assert.equal(table.get(9_951), undefined);
});

test('a SlotList holds each item once, removes any of them in place, and empties', () => {
  const list = new SlotList<{ slot: number; name: string }>();
  const items = Array.from({ length: 5 }, (_, i) => ({ slot: -1, name: `c${i}` }));
  for (const item of items) list.add(item);
  list.add(items[0] as { slot: number; name: string });
  assert.equal(list.size, 5, 'an item already in the list is not added again');
  assert.equal(list.delete(items[1] as { slot: number; name: string }), true);
  assert.equal(list.delete(items[1] as { slot: number; name: string }), false);
  assert.deepEqual(list.toArray().map((item) => item.name).sort(), ['c0', 'c2', 'c3', 'c4']);
  for (const item of list.toArray()) assert.equal(list.toArray()[item.slot], item, 'each item knows its index');
  const taken = list.takeAll();
  assert.equal(taken.length, 4);
  assert.equal(list.size, 0);
  assert.ok(taken.every((item) => item.slot === -1));
});
