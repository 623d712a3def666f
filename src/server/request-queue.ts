/**
 * A first-in first-out queue that holds its first item in a field and makes an array only for
 * the items behind it: a connection answering one request at a time never allocates one.
 */
export class RequestQueue<T> {
  private first: T | undefined;
  private rest: T[] | undefined;
  private count = 0;

  get size(): number {
    return this.count;
  }

  push(item: T): void {
    if (this.count === 0) this.first = item;
    else (this.rest ??= []).push(item);
    this.count++;
  }

  shift(): T | undefined {
    const item = this.first;
    if (this.count === 0) return undefined;
    this.count--;
    this.first = this.count > 0 ? this.rest?.shift() : undefined;
    return item;
  }

  clear(): void {
    this.first = undefined;
    this.rest = undefined;
    this.count = 0;
  }
}
