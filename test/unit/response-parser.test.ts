import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ResponseParser, type ResponseParserLimits } from '../../src/http/response-parser';
import { chunkings } from './fixtures/requests';

/** What the parser reported, as plain data; body bytes of consecutive calls are merged. */
type Event =
  | { readonly type: 'head'; readonly status: number; readonly framing: string; readonly keepAlive: boolean; readonly raw: readonly string[] }
  | { readonly type: 'body'; readonly text: string }
  | { readonly type: 'end'; readonly trailers: Record<string, string> }
  | { readonly type: 'error'; readonly code: string }
  | { readonly type: 'upgraded'; readonly rest: string };

const LIMITS: ResponseParserLimits = { maxHeaderBytes: 1024, maxBodyBytes: 1 << 20 };

/**
 * Feeds `chunks` to a parser that expects `requests` responses to `method`, the next expected as
 * soon as one ends (as a client with pipelined requests would), then ends the connection when `close`.
 */
function parse(chunks: readonly Buffer[], fixture: Fixture, limits: ResponseParserLimits = LIMITS): Event[] {
  const method = fixture.method ?? 'GET';
  let requests = fixture.requests ?? 1;
  const events: Event[] = [];
  const parser: ResponseParser = new ResponseParser(
    {
      onHead: (head) => {
        const names = head.rawHeaders.filter((_, i) => i % 2 === 0);
        assert.deepEqual(head.lowerNames, names.map((name) => name.toLowerCase()), 'lowerNames are rawHeaders names in lower case');
        events.push({ type: 'head', status: head.status, framing: head.framing.kind, keepAlive: head.keepAlive, raw: head.rawHeaders });
      },
      onBody: (chunk) => {
        const last = events.at(-1);
        if (last?.type === 'body') events[events.length - 1] = { type: 'body', text: last.text + chunk.toString('latin1') };
        else events.push({ type: 'body', text: chunk.toString('latin1') });
      },
      onMessageEnd: (trailers) => {
        events.push({ type: 'end', trailers: Object.fromEntries(trailers) });
        if (--requests > 0) parser.expect(method);
      },
      onError: (error) => events.push({ type: 'error', code: error.code }),
    },
    limits,
  );
  parser.expect(method);
  let rest = '';
  for (const chunk of chunks) rest += chunk.subarray(parser.execute(chunk)).toString('latin1');
  if (rest !== '') events.push({ type: 'upgraded', rest });
  if (fixture.close === true) parser.end();
  return events;
}

const bytes = (raw: string): Buffer => Buffer.from(raw, 'latin1');

interface Fixture {
  readonly name: string;
  readonly raw: string;
  readonly method?: string;
  readonly close?: boolean;
  readonly requests?: number;
}

const VALID: ReadonlyArray<Fixture & { readonly events: readonly Event[] }> = [
  {
    name: 'a response with Content-Length',
    raw: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello',
    events: [
      { type: 'head', status: 200, framing: 'length', keepAlive: true, raw: ['Content-Length', '5', 'Content-Type', 'text/plain'] },
      { type: 'body', text: 'hello' },
      { type: 'end', trailers: {} },
    ],
  },
  {
    name: 'a chunked response with extensions and trailers',
    raw: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n2\r\nde\r\n0\r\nDigest: sha=1\r\nX-T: 2\r\n\r\n',
    events: [
      { type: 'head', status: 200, framing: 'chunked', keepAlive: true, raw: ['Transfer-Encoding', 'chunked'] },
      { type: 'body', text: 'abcde' },
      { type: 'end', trailers: { digest: 'sha=1', 'x-t': '2' } },
    ],
  },
  {
    name: 'a close-delimited response, ended by the connection',
    raw: 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end',
    close: true,
    events: [
      { type: 'head', status: 200, framing: 'close', keepAlive: false, raw: ['Content-Type', 'text/plain'] },
      { type: 'body', text: 'until the end' },
      { type: 'end', trailers: {} },
    ],
  },
  {
    name: 'interim 100 and 103 responses before the final one',
    raw: 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n',
    events: [
      { type: 'head', status: 100, framing: 'none', keepAlive: true, raw: [] },
      { type: 'head', status: 103, framing: 'none', keepAlive: true, raw: ['Link', '</a.css>; rel=preload'] },
      { type: 'head', status: 204, framing: 'none', keepAlive: true, raw: [] },
      { type: 'end', trailers: {} },
    ],
  },
  {
    name: 'a HEAD response whose Content-Length describes the GET body',
    raw: 'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n',
    method: 'HEAD',
    events: [
      { type: 'head', status: 200, framing: 'none', keepAlive: true, raw: ['Content-Length', '1000'] },
      { type: 'end', trailers: {} },
    ],
  },
  {
    name: 'a 304 with a Content-Length and no body',
    raw: 'HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n',
    events: [
      { type: 'head', status: 304, framing: 'none', keepAlive: true, raw: ['Content-Length', '10'] },
      { type: 'end', trailers: {} },
    ],
  },
  {
    name: 'two responses on one connection, the second an HTTP/1.0 one',
    requests: 2,
    raw: 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nAHTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nB',
    events: [
      { type: 'head', status: 200, framing: 'length', keepAlive: true, raw: ['Content-Length', '1'] },
      { type: 'body', text: 'A' },
      { type: 'end', trailers: {} },
      { type: 'head', status: 200, framing: 'length', keepAlive: false, raw: ['Content-Length', '1'] },
      { type: 'body', text: 'B' },
      { type: 'end', trailers: {} },
    ],
  },
  {
    name: 'a status line without a reason phrase and bare LF line endings',
    raw: 'HTTP/1.1 404\nContent-Length: 0\n\n',
    events: [
      { type: 'head', status: 404, framing: 'none', keepAlive: true, raw: ['Content-Length', '0'] },
      { type: 'end', trailers: {} },
    ],
  },
  {
    name: 'identical repeated Content-Length values',
    raw: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n\r\nok',
    events: [
      { type: 'head', status: 200, framing: 'length', keepAlive: true, raw: ['Content-Length', '2', 'Content-Length', '2, 2'] },
      { type: 'body', text: 'ok' },
      { type: 'end', trailers: {} },
    ],
  },
  {
    name: 'a 101 Switching Protocols followed by bytes of the new protocol',
    raw: 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x02hi',
    events: [
      { type: 'head', status: 101, framing: 'none', keepAlive: true, raw: ['Upgrade', 'websocket', 'Connection', 'Upgrade'] },
      { type: 'upgraded', rest: '\x81\x02hi' },
    ],
  },
];

const INVALID: ReadonlyArray<Fixture & { readonly code: string }> = [
  { name: 'Content-Length with Transfer-Encoding', raw: 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', code: 'transfer-encoding-with-content-length' },
  { name: 'differing Content-Length values', raw: 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd', code: 'content-length-mismatch' },
  { name: 'a Content-Length that is not a number', raw: 'HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc', code: 'content-length-invalid' },
  { name: 'a chunk size that is not hexadecimal', raw: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n', code: 'chunk-size-invalid' },
  { name: 'a chunk size with too many digits', raw: `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${'0'.repeat(17)}1\r\na\r\n0\r\n\r\n`, code: 'chunk-size-too-long' },
  // Read from a window that started before it: the limit is measured from the line's own start.
  { name: 'a chunk size part too long, past the start of the window', raw: `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1${' '.repeat(70)};x\r\nd\r\n0\r\n\r\n`, code: 'chunk-size-too-long' },
  { name: 'a chunk line ending in a bare LF', raw: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n', code: 'chunk-line-ending' },
  { name: 'chunk data longer than its size', raw: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n', code: 'chunk-data-crlf-missing' },
  { name: 'a coding other than chunked', raw: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx', code: 'transfer-encoding-unsupported' },
  { name: 'Transfer-Encoding in an HTTP/1.0 response', raw: 'HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', code: 'transfer-encoding-in-http10' },
  { name: 'obsolete line folding', raw: 'HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\nContent-Length: 0\r\n\r\n', code: 'obsolete-line-folding' },
  { name: 'whitespace before a colon', raw: 'HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n', code: 'header-name-whitespace' },
  { name: 'a bare CR in a field value', raw: 'HTTP/1.1 200 OK\r\nX-A: 1\r2\r\nContent-Length: 0\r\n\r\n', code: 'bare-cr' },
  { name: 'a status line that is not HTTP', raw: 'ICY 200 OK\r\n\r\n', code: 'status-line-invalid' },
  { name: 'a two-digit status', raw: 'HTTP/1.1 20 OK\r\n\r\n', code: 'status-line-invalid' },
  { name: 'a status line with HTTP/2.0', raw: 'HTTP/2.0 200 OK\r\n\r\n', code: 'response-version-invalid' },
  { name: 'a header section over the limit', raw: `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(1100)}\r\n\r\n`, code: 'header-section-too-large' },
  { name: 'bytes after a complete response that nobody asked for', raw: 'HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\n\r\n', code: 'response-unexpected' },
  { name: 'a connection closed in the middle of a body', raw: 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc', close: true, code: 'response-incomplete' },
  { name: 'a connection closed in the middle of a head', raw: 'HTTP/1.1 200 OK\r\nContent-Len', close: true, code: 'response-incomplete' },
];

for (const fixture of VALID) {
  test(`ResponseParser parses ${fixture.name}, whatever the chunking`, () => {
    const raw = bytes(fixture.raw);
    assert.deepEqual(parse([raw], fixture), fixture.events);
    for (const { label, chunks } of chunkings(raw)) assert.deepEqual(parse(chunks, fixture), fixture.events, label);
  });
}

for (const fixture of INVALID) {
  test(`ResponseParser refuses ${fixture.name} (${fixture.code}), whatever the chunking`, () => {
    const raw = bytes(fixture.raw);
    const check = (events: Event[], label: string): void => {
      assert.deepEqual(events.filter((e) => e.type === 'error'), [{ type: 'error', code: fixture.code }], label);
      assert.equal(events.at(-1)?.type, 'error', `${label}: nothing may follow the error`);
    };
    check(parse([raw], fixture), 'one chunk');
    for (const { label, chunks } of chunkings(raw)) check(parse(chunks, fixture), label);
  });
}

test('ResponseParser reports bytes before any request as unexpected', () => {
  const errors: string[] = [];
  const parser = new ResponseParser({ onHead: () => undefined, onBody: () => undefined, onMessageEnd: () => undefined, onError: (e) => errors.push(e.code) }, LIMITS);
  parser.execute(bytes('HTTP/1.1 200 OK\r\n\r\n'));
  assert.deepEqual(errors, ['response-unexpected']);
  assert.ok(parser.failed);
});

/** A parser with room for heads larger than its 4 KiB decoding window. */
const WIDE: Fixture = { name: 'wide', raw: '' };
const WIDE_LIMITS: ResponseParserLimits = { maxHeaderBytes: 64 * 1024, maxBodyBytes: 1 << 20 };

function parseWide(chunks: readonly Buffer[], fixture: Fixture = WIDE): Event[] {
  return parse(chunks, fixture, WIDE_LIMITS);
}

test('ResponseParser reads heads and chunk lines across its decoding window, however they are cut', () => {
  // Fields and chunks of uneven sizes, so that lines straddle every window edge at other places.
  const fields = Array.from({ length: 120 }, (_, i) => [`X-Field-${i}`, 'f'.repeat((i * 37) % 90)] as const);
  const chunks = Array.from({ length: 300 }, (_, i) => 'c'.repeat(1 + ((i * 13) % 40)));
  const head = `HTTP/1.1 200 OK\r\n${fields.map(([name, value]) => `${name}: ${value}\r\n`).join('')}Transfer-Encoding: chunked\r\n\r\n`;
  const raw = bytes(`${head}${chunks.map((c) => `${c.length.toString(16)}\r\n${c}\r\n`).join('')}0\r\nX-Trailer: t\r\n\r\n`);
  assert.ok(raw.length > 3 * 4096);
  const events = parseWide([raw]);
  assert.deepEqual(events, [
    { type: 'head', status: 200, framing: 'chunked', keepAlive: true, raw: [...fields.flat(), 'Transfer-Encoding', 'chunked'] },
    { type: 'body', text: chunks.join('') },
    { type: 'end', trailers: { 'x-trailer': 't' } },
  ]);
  for (const size of [1, 7, 1000, 4095, 4096, 4097, 5000]) {
    const pieces: Buffer[] = [];
    for (let i = 0; i < raw.length; i += size) pieces.push(raw.subarray(i, i + size));
    assert.deepEqual(parseWide(pieces), events, `pieces of ${size}`);
  }
});

test('ResponseParser reads a field line longer than its decoding window', () => {
  const value = 'v'.repeat(10_000);
  const raw = bytes(`HTTP/1.1 200 OK\r\nX-Short: s\r\nX-Long: ${value}\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 204 No Content\r\nX-After: a\r\n\r\n`);
  const fixture: Fixture = { name: 'long line', raw: '', requests: 2 };
  const events = parseWide([raw], fixture);
  assert.deepEqual(events, [
    { type: 'head', status: 200, framing: 'length', keepAlive: true, raw: ['X-Short', 's', 'X-Long', value, 'Content-Length', '2'] },
    { type: 'body', text: 'ok' },
    { type: 'end', trailers: {} },
    { type: 'head', status: 204, framing: 'none', keepAlive: true, raw: ['X-After', 'a'] },
    { type: 'end', trailers: {} },
  ]);
  for (const cut of [1, 20, 4095, 4096, 4097, 8000, raw.length - 1]) {
    assert.deepEqual(parseWide([raw.subarray(0, cut), raw.subarray(cut)], fixture), events, `split at ${cut}`);
  }
});

test('ResponseParser refuses a bare CR in a field line longer than its decoding window', () => {
  const raw = bytes(`HTTP/1.1 200 OK\r\nX-Long: ${'v'.repeat(6000)}\r${'w'.repeat(100)}\r\nContent-Length: 0\r\n\r\n`);
  for (const chunks of [[raw], [raw.subarray(0, 4096), raw.subarray(4096)], [raw.subarray(0, 6020), raw.subarray(6020)]]) {
    const events = parseWide(chunks);
    assert.deepEqual(events, [{ type: 'error', code: 'bare-cr' }]);
  }
});

test('ResponseParser reads a buffer given again with other bytes after a callback threw, not the text decoded before', () => {
  const events: string[] = [];
  let throwOnce = true;
  const parser = new ResponseParser(
    {
      onHead: (head) => {
        events.push(`head ${head.status} ${head.rawHeaders.join(' ')}`);
        if (throwOnce) {
          throwOnce = false;
          throw new Error('a callback failed');
        }
      },
      onBody: () => undefined,
      onMessageEnd: () => events.push('end'),
      onError: (error) => events.push(`error ${error.code}`),
    },
    LIMITS,
  );
  parser.expect('GET');
  // Both texts are the same length, so the buffer is reused whole, as a shared read buffer is.
  const buffer = bytes('HTTP/1.1 100 Continue\r\nX-A: aaaaaaaaaaaaaa\r\n\r\n');
  assert.throws(() => parser.execute(buffer), /a callback failed/);
  bytes('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-B: b\r\n\r\n').copy(buffer);
  assert.equal(parser.execute(buffer), buffer.length);
  assert.deepEqual(events, ['head 100 X-A aaaaaaaaaaaaaa', 'head 200 Content-Length 0 X-B b', 'end']);
});
