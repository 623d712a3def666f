/**
 * Gives `target` (a class prototype whose instances stand in for a native Fetch object) every
 * getter and method of `native` it does not define itself, each forwarded to the native object
 * that `real` builds for the instance (undici's `console.log` output reads those getters too).
 * Then chains `target` to `native`, so `instanceof` the native class holds.
 */
export function delegateRest(target: object, native: object, real: (self: never) => object): void {
  const own = new Set(Object.getOwnPropertyNames(target));
  type Real = Record<string, unknown>;
  for (const name of Object.getOwnPropertyNames(native)) {
    if (own.has(name) || name === 'constructor') continue;
    const descriptor = Object.getOwnPropertyDescriptor(native, name) as PropertyDescriptor;
    if (descriptor.get !== undefined) {
      Object.defineProperty(target, name, { configurable: true, get(this: never) { return (real(this) as Real)[name]; } });
    } else if (typeof descriptor.value === 'function') {
      Object.defineProperty(target, name, {
        configurable: true,
        writable: true,
        value(this: never, ...args: unknown[]) {
          const object = real(this) as Real;
          return (object[name] as (...a: unknown[]) => unknown).apply(object, args);
        },
      });
    }
  }
  Object.setPrototypeOf(target, native);
}

/**
 * `instanceof` for a global class that replaces a native one: every instance of the native class
 * passes (as before the replacement); a subclass of the replacement keeps the usual test.
 */
export function isInstance(tested: unknown, replacement: unknown, native: abstract new (...args: never[]) => unknown, value: unknown): boolean {
  if (tested === replacement) return value instanceof native;
  return Function.prototype[Symbol.hasInstance].call(tested, value);
}
