import type { HttpVersion } from '../http/types';
import type { Response } from './handler';

/** Bodies up to this size are stored with their head and sent in one buffer (one write call). */
export const COMBINED_MAX_BYTES = 8 * 1024;

/**
 * Which head a response needs, 0 to 5: framing and connection fields differ between HEAD and
 * GET, and between keep-alive for HTTP/1.1, keep-alive for HTTP/1.0, and close.
 */
export type WireVariant = number;

const VARIANTS = 6;

/**
 * The serialized bytes of shared responses, for the current `Date` second only. A handler that
 * answers many requests with the same frozen Response (the static handler's prebuilt 200 and
 * 304 of a cached file) then costs one buffer write per request instead of building the head
 * text, encoding it and gathering it with the body. Entries are dropped when the second
 * changes, so memory is bounded by what was served within one second.
 */
export class WireCache {
  private date = '';
  private readonly entries = new Map<Response, Array<Buffer | undefined>>();

  get(response: Response, date: string, variant: WireVariant): Buffer | undefined {
    if (date !== this.date) {
      this.date = date;
      this.entries.clear();
      return undefined;
    }
    return this.entries.get(response)?.[variant];
  }

  /** Stores `bytes` for `response` and returns them; only valid for the date last passed to `get`. */
  set(response: Response, variant: WireVariant, bytes: Buffer): Buffer {
    let slots = this.entries.get(response);
    if (slots === undefined) {
      slots = new Array<Buffer | undefined>(VARIANTS).fill(undefined);
      this.entries.set(response, slots);
    }
    slots[variant] = bytes;
    return bytes;
  }
}

export function wireVariant(isHead: boolean, keepAlive: boolean, version: HttpVersion): WireVariant {
  const connection = keepAlive ? (version === '1.0' ? 1 : 0) : 2;
  return isHead ? connection + 3 : connection;
}
