/*
 * The heads of the app protocol (frames.ts): JSON arrays, flat. REQUEST, written by the server,
 * is `[method, path, query, protocol, remoteAddress, remotePort, scriptName, serverName,
 * serverPort, name, value, ...]`; START (also a RESPONSE frame's head), written by a bridge, is
 * `[status, name, value, ...]`. The WSGI bridge (wsgi_bridge.py) reads and writes the same.
 */
import { Buffer } from 'node:buffer';
import type { Request } from '../handler';
import { FRAME, HEADER_BYTES, MAX_PAYLOAD, encodeTextFrame, writeHeader } from './frames';

/** Items of a REQUEST head before its fields. */
export const REQUEST_ITEMS = 9;

/** What every request to one app shares: its mount (the script name) and the server's name and port. */
export interface ServerPart {
  /** The mount prefix without a trailing slash (`` for the whole site): SCRIPT_NAME. */
  readonly mount: string;
  readonly serverName: string;
  readonly serverPort: () => number;
}

/**
 * The REQUEST frame's JSON (see above), the path percent-encoded and below the mount. Written
 * item by item (see jsonFields); the server's part, the same for every request, is kept as text.
 */
export function headJson(request: Request, context: ServerPart): string {
  return (
    `[${jsonString(request.method)},${jsonString(request.path.slice(context.mount.length))},${jsonString(request.query)}` +
    `,"HTTP/${request.version}",${jsonString(request.remoteAddress)},${request.remotePort}${serverPart(context)}${jsonFields(request.headers)}]`
  );
}

let serverPartOf: { context: ServerPart; port: number; text: string } | undefined;

/** The items every request to one app shares (script name, server name and port), as JSON text after a comma. */
function serverPart(context: ServerPart): string {
  const port = context.serverPort();
  if (serverPartOf?.context !== context || serverPartOf.port !== port) {
    const text = `,${JSON.stringify(context.mount)},${JSON.stringify(context.serverName)},${port}`;
    serverPartOf = { context, port, text };
  }
  return serverPartOf.text;
}

/** The REQUEST frame's head, as the Fetch bridge reads it (see headJson). */
export interface Head {
  readonly method: string;
  readonly scriptName: string;
  readonly path: string;
  readonly query: string;
  /** Each field's name (lower-case) and value, one after the other. */
  readonly fields: readonly string[];
  readonly serverName: string;
  readonly serverPort: number;
}

/** A REQUEST frame's JSON array read into a Head; undefined when it is not one. */
export function headOf(json: string): Head | undefined {
  const items = jsonArray(json);
  if (items === undefined || items.length < REQUEST_ITEMS || (items.length - REQUEST_ITEMS) % 2 !== 0) return undefined;
  const [method, path, query, , , , scriptName, serverName, serverPort] = items as [string, string, string, string, string, number, string, string, number];
  return { method, scriptName, path, query, fields: (items as string[]).slice(REQUEST_ITEMS), serverName, serverPort };
}

/**
 * A character a JSON string must escape (RFC 8259 section 7: a quote, a backslash, controls),
 * or a surrogate, which JSON.stringify escapes when lone: anything but these ranges.
 */
const NEEDS_ESCAPE = /[^\x20\x21\x23-\x5b\x5d-\ud7ff\ue000-\uffff]/;

/**
 * `text` as a JSON string: quoted as it is when nothing in it needs an escape (field names and
 * values almost always), which takes a third of JSON.stringify's time.
 */
export function jsonString(text: string): string {
  return NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : `"${text}"`;
}

/**
 * Fields as they end a REQUEST or START head: `,"name","value"` for each (half the time of
 * stringifying an array built for the purpose).
 */
function jsonFields(fields: Iterable<readonly [string, string]>): string {
  let text = '';
  for (const [name, value] of fields) text += `,${jsonString(name)},${jsonString(value)}`;
  return text;
}

/** A START head's JSON, `[status, name, value, ...]`. */
function startJson(status: string, fields: Iterable<readonly [string, string]>): string {
  return `[${jsonString(status)}${jsonFields(fields)}]`;
}

/**
 * A START head (also a RESPONSE frame's) read back: the JSON array, when it is one of an odd
 * number of strings (the status, then names and values); undefined when malformed.
 */
export function parseStart(json: string): readonly string[] | undefined {
  const head = jsonArray(json);
  if (head === undefined || head.length % 2 !== 1) return undefined;
  for (const item of head) if (typeof item !== 'string') return undefined;
  return head as string[];
}

/**
 * A START frame. Throws for a head larger than MAX_PAYLOAD: no frame may be, and the app's side
 * answers the error (an ERROR frame) rather than break the pipe that every request shares.
 */
export function encodeStartFrame(id: number, status: string, fields: ReadonlyArray<readonly [string, string]>): Buffer {
  const frame = encodeTextFrame(FRAME.start, id, startJson(status, fields));
  if (frame.length - HEADER_BYTES > MAX_PAYLOAD) {
    throw new RangeError(`The response head is ${frame.length - HEADER_BYTES} bytes of fields, more than the ${MAX_PAYLOAD} a response head may have here`);
  }
  return frame;
}

/**
 * A RESPONSE frame: START's JSON and the whole body, in one buffer; undefined when the two would
 * not fit MAX_PAYLOAD together (a head of nearly a megabyte), which START and BODY then carry.
 */
export function encodeResponseFrame(id: number, status: string, fields: ReadonlyArray<readonly [string, string]>, body: Uint8Array): Buffer | undefined {
  const head = startJson(status, fields);
  const headLength = Buffer.byteLength(head, 'utf8');
  const length = 4 + headLength + body.byteLength;
  if (length > MAX_PAYLOAD) return undefined;
  const frame = Buffer.allocUnsafe(HEADER_BYTES + length);
  writeHeader(frame, FRAME.response, id, length);
  frame.writeUInt32BE(headLength, HEADER_BYTES);
  frame.write(head, HEADER_BYTES + 4, 'utf8');
  frame.set(body, HEADER_BYTES + 4 + headLength);
  return frame;
}

/** A RESPONSE frame's payload split into START's JSON text and the body; undefined when it is malformed. */
export function splitResponse(payload: Buffer): { readonly head: string; readonly body: Buffer } | undefined {
  if (payload.length < 4) return undefined;
  const headLength = payload.readUInt32BE(0);
  if (headLength > payload.length - 4) return undefined;
  return { head: payload.toString('utf8', 4, 4 + headLength), body: payload.subarray(4 + headLength) };
}

/** `json` parsed, when it is an array; undefined for anything else, or no JSON. */
function jsonArray(json: string): unknown[] | undefined {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  return Array.isArray(value) ? value : undefined;
}
