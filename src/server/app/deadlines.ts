import { performance } from 'node:perf_hooks';

/** Something that gives up when its time is up. */
export interface Expiring {
  expire(): void;
}

/**
 * One timer for every request to an app instead of a setTimeout each: they all get the same
 * time, so the order they are added in is the order they expire in, and only the oldest needs
 * a timer. Adding and removing cost a Map operation; a request that ends before its time (all
 * but a hung app's) never touches a timer.
 */
export class Deadlines {
  /** Insertion order is deadline order. */
  private readonly entries = new Map<Expiring, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly ms: number) {}

  get size(): number {
    return this.entries.size;
  }

  add(entry: Expiring): void {
    this.entries.set(entry, performance.now() + this.ms);
    if (this.timer === undefined) this.arm(this.ms);
  }

  delete(entry: Expiring): void {
    this.entries.delete(entry);
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
    const now = performance.now();
    for (const [entry, deadline] of this.entries) {
      if (deadline > now) {
        this.arm(deadline - now);
        return;
      }
      this.entries.delete(entry);
      entry.expire();
    }
  };
}
