import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BatchedRecords, LogBytes, formatReceived, formatRecord, formatTenths, type RequestLogRecord } from '../../src/server/log';
import { startServer } from '../../src/server/server';
import { createFixtureSite } from './helpers/fixture-site';
import { exchange, parseResponses } from './helpers/raw';

function record(overrides: Partial<RequestLogRecord> = {}): RequestLogRecord {
  return {
    time: 0,
    client: '127.0.0.1:50312',
    method: 'GET',
    target: '/index.html',
    version: '1.1',
    status: 200,
    bytes: 1234,
    durationMs: 0.44,
    headers: [],
    ...overrides,
  };
}

test('formatRecord() writes client, request line, status, bytes and duration', () => {
  assert.equal(formatRecord(record()), '127.0.0.1:50312 GET /index.html HTTP/1.1 200 1234B 0.4ms');
  assert.equal(
    formatRecord(record({ method: '-', target: '-', version: '-', status: 400, bytes: 0, durationMs: 12.96, reason: 'Bad request line' })),
    '127.0.0.1:50312 - - - 400 0B 13.0ms - Bad request line',
  );
});

test('formatRecord() rounds durations to a tenth like toFixed(1)', () => {
  for (const ms of [0, 0.04, 0.05, 0.951, 1.25, 9.99, 123.456, 60_000.06]) {
    assert.equal(formatRecord(record({ durationMs: ms })).split(' ').pop(), `${ms.toFixed(1)}ms`, String(ms));
  }
  assert.match(formatRecord(record({ bytes: 2 ** 40 })), / 1099511627776B /);
});

test('formatRecord() keeps one record on one line: control characters are escaped', () => {
  const line = formatRecord(record({ status: 404, reason: 'no file at /site/a\nb\r\t\u007f' }));
  assert.equal(line.split('\n').length, 1);
  assert.ok(line.endsWith('no file at /site/a\\x0ab\\x0d\\x09\\x7f'), line);
});

test('formatRecord() writes non-ASCII text as UTF-8, lone surrogates as U+FFFD', () => {
  const text = 'é中😀/caf\u00e9';
  assert.ok(formatRecord(record({ reason: text })).endsWith(` - ${text}`));
  assert.ok(formatRecord(record({ reason: 'a\ud800b\udc00' })).endsWith(' - a\ufffdb\ufffd'));
});

/** Bidi marks, embeddings, overrides and isolates, and the line and paragraph separators. */
const LINE_CHANGING = ['\u061c', '\u200e', '\u200f', '\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069', '\u2028', '\u2029'];
/** C1 controls, bidi and separator characters: none may reach a log line unescaped. */
const UNSAFE = /[\u0080-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/u;

test('formatRecord() escapes C1 controls in text as \\xHH (CSI and OSC act like ESC [ and ESC ])', () => {
  const line = formatRecord(record({ status: 404, reason: 'no file at /a\u009b31mb\u009d0;title\u0007c\u0080\u0085\u009f\u00a0é' }));
  assert.ok(line.endsWith('no file at /a\\x9b31mb\\x9d0;title\\x07c\\x80\\x85\\x9f\u00a0é'), line);
  assert.doesNotMatch(line, UNSAFE);
});

test('formatRecord() escapes bidi controls and line separators in text as \\uHHHH', () => {
  const line = formatRecord(record({ status: 404, reason: `x${LINE_CHANGING.join('y')}z` }));
  const escaped = LINE_CHANGING.map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  assert.ok(line.endsWith(` - x${escaped.join('y')}z`), line);
  assert.doesNotMatch(line, UNSAFE);
  // Neighbours that do not reorder or break a line stay as they are.
  assert.ok(formatRecord(record({ reason: '\u200d\u2030\u2065\u206a\u061b' })).endsWith(' - \u200d\u2030\u2065\u206a\u061b'));
});

test('formatRecord() writes the target as the bytes received: anything outside printable ASCII is \\xHH', () => {
  // The parser decodes the target as latin1: raw 0x9b is U+009B, UTF-8 bytes of U+202E are three chars.
  const target = Buffer.from([...Buffer.from('/a'), 0x9b, ...Buffer.from('[2J'), 0xc2, 0x9b, 0xe2, 0x80, 0xae, 0xc3, 0xa9]).toString('latin1');
  const line = formatRecord(record({ target }));
  assert.equal(line, '127.0.0.1:50312 GET /a\\x9b[2J\\xc2\\x9b\\xe2\\x80\\xae\\xc3\\xa9 HTTP/1.1 200 1234B 0.4ms');
  assert.equal(formatReceived('text/html\u0085\u00ff'), 'text/html\\x85\\xff');
  assert.equal(formatReceived('\u202e'), '\\u202e', 'a char above U+00FF (never from the parser) is escaped too');
});

test('LogBytes reserves room for a line made only of escaped characters', () => {
  const out = new LogBytes(16);
  const reason = '\u202e'.repeat(100);
  out.record(record({ target: '\u0085'.repeat(100), reason }));
  assert.ok(out.toString().endsWith(` - ${'\\u202e'.repeat(100)}`));
});

test('a request whose target holds C1 controls and bidi overrides is logged escaped, as bytes and as text', async () => {
  const site = createFixtureSite({ 'index.html': '<p>home' });
  const batches: Buffer[] = [];
  const bytes = new BatchedRecords((chunk) => batches.push(chunk), () => '', 1);
  const lines: string[] = [];
  const result = await startServer({
    root: site.root,
    port: 0,
    liveReload: false,
    logger: { log: (r) => (bytes.push(r), lines.push(formatRecord(r))) },
  });
  assert.ok(result.ok);
  try {
    // UTF-8 C1 sent raw in the target, and percent-encoded CSI, OSC, RLO and LS decoded into the reason.
    const head = Buffer.concat([
      Buffer.from('GET /x'),
      Buffer.from([0xc2, 0x9d]),
      Buffer.from('%C2%9B2J%C2%9D0;t%07%E2%80%AEgpj.exe%E2%80%A8 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'),
    ]);
    assert.equal(parseResponses(await exchange(result.server.port, head))[0]?.status, 404);
    // A raw byte that is no UTF-8 (a lone 0x9b, CSI in C1) is read as the Latin-1 character.
    const lone = Buffer.concat([Buffer.from('GET /y'), Buffer.from([0x9b]), Buffer.from(' HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')]);
    assert.equal(parseResponses(await exchange(result.server.port, lone))[0]?.status, 404);
    // The record is written as the response ends, which may be just after the client saw it.
    for (let i = 0; i < 200 && lines.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(lines.length, 2);
    bytes.flush();
    const written = Buffer.concat(batches);
    const line = lines[0] ?? '';
    assert.equal(written.toString('utf8'), `${lines.join('\n')}\n`, 'the terminal and the output channel get the same lines');
    assert.ok(line.includes(' GET /x\\xc2\\x9d%C2%9B2J%C2%9D0;t%07%E2%80%AEgpj.exe%E2%80%A8 HTTP/1.1 404 '), line);
    // The reason is text: the path decoded (raw bytes as the UTF-8 they are), escaped.
    assert.ok(line.includes('x\\x9d\\x9b2J\\x9d0;t\\x07\\u202egpj.exe\\u2028'), line);
    assert.ok((lines[1] ?? '').includes(' GET /y\\x9b HTTP/1.1 404 '), lines[1]);
    assert.ok((lines[1] ?? '').includes('y\\x9b'), lines[1]);
    for (const logged of lines) assert.doesNotMatch(logged, UNSAFE);
    // Valid UTF-8, so a byte 0x80-0x9f only ever continues a sequence and no terminal takes it for C1.
    assert.ok(Buffer.from(written.toString('utf8')).equals(written), written.toString('latin1'));
  } finally {
    await result.server.close();
    site.remove();
  }
});

test('LogBytes grows past its capacity without losing bytes', () => {
  const out = new LogBytes(16);
  const long = 'x'.repeat(1000);
  out.text(long);
  out.byte(0x0a);
  out.text('42');
  assert.equal(out.toString(), `${long}\n42`);
  assert.equal(out.take().toString(), `${long}\n42`);
  assert.equal(out.size, 0);
});

test('BatchedRecords hands over one buffer per batch, each line after its prefix', async () => {
  const batches: string[] = [];
  const lines = new BatchedRecords((bytes) => batches.push(bytes.toString()), () => '12:00:00 ', 20);
  lines.push(record());
  lines.push(record({ status: 304, bytes: 120 }));
  assert.deepEqual(batches, []);
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.deepEqual(batches, [
    '12:00:00 127.0.0.1:50312 GET /index.html HTTP/1.1 200 1234B 0.4ms\n' +
      '12:00:00 127.0.0.1:50312 GET /index.html HTTP/1.1 304 120B 0.4ms\n',
  ]);
  lines.push(record());
  lines.dispose();
  assert.equal(batches.length, 2);
});

test('BatchedRecords flushes at once when a batch is full', () => {
  const batches: Buffer[] = [];
  const lines = new BatchedRecords((bytes) => batches.push(bytes), () => '', 1000, 200);
  for (let i = 0; i < 5; i++) lines.push(record());
  assert.ok(batches.length >= 1);
  lines.dispose();
  assert.equal(Buffer.concat(batches).toString().split('\n').length - 1, 5);
});

test('formatTenths writes a duration as toFixed(1) does', () => {
  const values = [0, 0.04, 0.05, 0.06, 0.95, 1, 9.99, 10.05, 123.45, 99999.96, 1e9 + 0.3];
  for (let i = 0; i < 2000; i++) values.push(Math.random() * 10 ** (i % 7));
  for (const value of values) {
    // Halves are where binary doubles and decimal rounding may part: both spellings are right there.
    if (Math.abs(((value * 10) % 1) - 0.5) < 1e-6) continue;
    assert.equal(formatTenths(value), value.toFixed(1), String(value));
  }
  assert.equal(formatTenths(-1), (-1).toFixed(1));
  assert.equal(formatTenths(Number.NaN), 'NaN');
});
