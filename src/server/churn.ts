/*
 * Collections for entries added and removed all the time (one or more per request), kept by
 * long-lived owners: an app's requests in flight by id, a proxy's connections lent to requests.
 *
 * Why not a Map or a Set: each time one's table is rebuilt (as it fills with removed entries, or
 * on clear()) V8 leaves the old table pointing to the new one, for iterators. Once the owner
 * lives in the old generation (after the first full collection, such as the one V8 runs in an
 * idle pause), every old table keeps its successor alive through a scavenge, so each table, and
 * every request it still names, is promoted: measured at 1.1 KB per app request, with a full
 * collection every half second and a third to a half of the throughput lost from then on (README,
 * "Fetch apps"). An array's or an object's storage is rebuilt without such a link.
 */

/** Values by integer id, in a plain object's elements. */
export class IdTable<T> {
  private entries = Object.create(null) as Record<number, T | undefined>;
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(id: number): T | undefined {
    return this.entries[id];
  }

  set(id: number, value: T): void {
    if (this.entries[id] === undefined) this.count++;
    this.entries[id] = value;
  }

  /** True when `id` was there. */
  delete(id: number): boolean {
    if (this.entries[id] === undefined) return false;
    delete this.entries[id];
    this.count--;
    return true;
  }

  values(): T[] {
    return Object.values(this.entries) as T[];
  }

  clear(): void {
    this.entries = Object.create(null) as Record<number, T | undefined>;
    this.count = 0;
  }
}

/** Something a SlotList holds: its index there, -1 while it is in none. */
export interface Slotted {
  slot: number;
}

/** A set of objects in an array, each knowing its index: adding and removing are O(1), order is not kept. */
export class SlotList<T extends Slotted> {
  private readonly items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  add(item: T): void {
    if (item.slot >= 0) return;
    item.slot = this.items.length;
    this.items.push(item);
  }

  /** True when `item` was in the list. */
  delete(item: T): boolean {
    const slot = item.slot;
    if (slot < 0 || this.items[slot] !== item) return false;
    const last = this.items.pop() as T;
    if (last !== item) {
      this.items[slot] = last;
      last.slot = slot;
    }
    item.slot = -1;
    return true;
  }

  /** A copy, safe to iterate while items are removed. */
  toArray(): T[] {
    return this.items.slice();
  }

  /** Empties the list and returns what it held. */
  takeAll(): T[] {
    const items = this.items.splice(0);
    for (const item of items) item.slot = -1;
    return items;
  }
}
