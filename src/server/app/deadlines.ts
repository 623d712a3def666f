import { performance } from 'node:perf_hooks';

/**
 * Something that gives up when its time is up. The fields are the list's links, kept on the
 * entry itself so that adding and removing one allocates nothing; only Deadlines sets them.
 */
export interface Expiring {
  expire(): void;
  deadlineAt: number;
  olderEntry: Expiring | undefined;
  newerEntry: Expiring | undefined;
}

/**
 * One timer for every request to an app instead of a setTimeout each: they all get the same
 * time, so the order they are added in is the order they expire in, and only the oldest needs
 * a timer. Adding and removing relink a list; a request that ends before its time (all but a
 * hung app's) never touches a timer.
 */
export class Deadlines {
  private oldest: Expiring | undefined;
  private newest: Expiring | undefined;
  private count = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Set while `fire` runs: an entry added by an `expire()` is armed by its loop, not by `add`. */
  private firing = false;

  constructor(private readonly ms: number) {}

  get size(): number {
    return this.count;
  }

  add(entry: Expiring): void {
    entry.deadlineAt = performance.now() + this.ms;
    entry.olderEntry = this.newest;
    entry.newerEntry = undefined;
    if (this.newest === undefined) this.oldest = entry;
    else this.newest.newerEntry = entry;
    this.newest = entry;
    this.count++;
    if (this.timer === undefined && !this.firing) this.arm(this.ms);
  }

  /** Removes `entry` if it is listed; anything else is left as it is. */
  delete(entry: Expiring): void {
    if (entry.deadlineAt < 0) return;
    entry.deadlineAt = -1;
    const { olderEntry: older, newerEntry: newer } = entry;
    if (older === undefined) this.oldest = newer;
    else older.newerEntry = newer;
    if (newer === undefined) this.newest = older;
    else newer.olderEntry = older;
    entry.olderEntry = undefined;
    entry.newerEntry = undefined;
    this.count--;
  }

  /**
   * Unreferenced: a request waiting for an app keeps its client's socket open, which keeps the
   * process alive anyway, and a stopped server leaves no timer behind to wait for.
   */
  private arm(ms: number): void {
    this.timer = setTimeout(this.fire, Math.max(1, Math.ceil(ms)));
    this.timer.unref();
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    this.firing = true;
    const now = performance.now();
    try {
      for (let entry = this.oldest; entry !== undefined; entry = this.oldest) {
        if (entry.deadlineAt > now) {
          this.arm(entry.deadlineAt - now);
          return;
        }
        this.delete(entry);
        entry.expire();
      }
    } finally {
      this.firing = false;
    }
  };
}
