import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RequestParser, type ParserCallbacks } from '../../src/http/parser';
import type { ParseError } from '../../src/http/types';
import {
  DEFAULT_TEST_LIMITS,
  INVALID,
  VALID,
  chunkings,
  expectedEvents,
  limitsOf,
  parseChunks,
  type InvalidFixture,
  type ParseEvent,
} from './fixtures/requests';

const bytes = (raw: string): Buffer => Buffer.from(raw, 'latin1');

function assertInvalidOutcome(fixture: InvalidFixture, events: readonly ParseEvent[], label: string): void {
  const errors = events.filter((e) => e.type === 'error');
  assert.deepEqual(errors, [{ type: 'error', status: fixture.status, code: fixture.code }], `${fixture.name} (${label})`);
  assert.equal(events.at(-1)?.type, 'error', `${fixture.name} (${label}): nothing may follow the error`);
  const ends = events.filter((e) => e.type === 'end').length;
  assert.equal(ends, fixture.messagesBefore ?? 0, `${fixture.name} (${label}): messages before the error`);
}

for (const fixture of VALID) {
  test(`RequestParser parses ${fixture.name}`, () => {
    const events = parseChunks([bytes(fixture.raw)], limitsOf(fixture));
    assert.deepEqual(events, expectedEvents(fixture.messages, events));
  });
}

for (const fixture of INVALID) {
  test(`RequestParser answers ${fixture.status} (${fixture.code}) to ${fixture.name}`, () => {
    assertInvalidOutcome(fixture, parseChunks([bytes(fixture.raw)], limitsOf(fixture)), 'one chunk');
  });
}

test('RequestParser gives the same result for valid requests split at every byte and fed byte by byte', () => {
  for (const fixture of VALID) {
    const raw = bytes(fixture.raw);
    const expected = parseChunks([raw], limitsOf(fixture));
    for (const { label, chunks } of chunkings(raw)) {
      assert.deepEqual(parseChunks(chunks, limitsOf(fixture)), expected, `${fixture.name} (${label})`);
    }
  }
});

test('RequestParser gives the same error for invalid requests split at every byte and fed byte by byte', () => {
  for (const fixture of INVALID) {
    const raw = bytes(fixture.raw);
    const expected = parseChunks([raw], limitsOf(fixture));
    for (const { label, chunks } of chunkings(raw)) {
      const events = parseChunks(chunks, limitsOf(fixture));
      assertInvalidOutcome(fixture, events, label);
      assert.deepEqual(events, expected, `${fixture.name} (${label})`);
    }
  }
});

test('RequestParser parses all valid fixtures pipelined in one stream, however it is split', () => {
  const fixtures = VALID.filter((f) => f.limits === undefined);
  const raw = bytes(fixtures.map((f) => f.raw).join(''));
  const whole = parseChunks([raw]);
  assert.deepEqual(whole, expectedEvents(fixtures.flatMap((f) => f.messages), whole));
  for (const { label, chunks } of chunkings(raw)) {
    assert.deepEqual(parseChunks(chunks), whole, label);
  }
});

test('RequestParser parses hundreds of pipelined requests from one large chunk', () => {
  const one = VALID[1]?.raw ?? '';
  const post = 'POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc';
  const raw = bytes((one + post).repeat(150));
  const events = parseChunks([raw]);
  assert.equal(events.filter((e) => e.type === 'head').length, 300);
  assert.equal(events.filter((e) => e.type === 'end').length, 300);
  assert.equal(events.filter((e) => e.type === 'body').length, 150);
  // Cuts every 1000 bytes land at other places in the window of decoded text.
  const pieces: Buffer[] = [];
  for (let i = 0; i < raw.length; i += 1000) pieces.push(raw.subarray(i, i + 1000));
  assert.deepEqual(parseChunks(pieces), events);
});

test('RequestParser reads a field line longer than its decoding window', () => {
  const value = 'v'.repeat(10_000);
  const raw = bytes(`GET /long HTTP/1.1\r\nHost: h\r\nX-Long: ${value}\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n`);
  const events = parseChunks([raw]);
  const heads = events.flatMap((e) => (e.type === 'head' ? [e.head] : []));
  assert.deepEqual(
    heads.map((h) => [h.path, h.headers['x-long']]),
    [['/long', value], ['/next', undefined]],
  );
  for (const cut of [1, 20, 4095, 4096, 4097, 8000, raw.length - 1]) {
    assert.deepEqual(parseChunks([raw.subarray(0, cut), raw.subarray(cut)]), events, `split at ${cut}`);
  }
});

test('RequestParser passes a large body through and parses the request after it', () => {
  const body = Buffer.alloc(200_000, 'b');
  const raw = Buffer.concat([
    bytes(`PUT /big HTTP/1.1\r\nHost: h\r\nContent-Length: ${body.length}\r\n\r\n`),
    body,
    bytes('GET /after HTTP/1.1\r\nHost: h\r\n\r\n'),
  ]);
  for (const chunks of [[raw], [raw.subarray(0, 65536), raw.subarray(65536, 131072), raw.subarray(131072)]]) {
    const events = parseChunks(chunks);
    assert.deepEqual(
      events.map((e) => (e.type === 'body' ? e.data.length : e.type)),
      ['head', body.length, 'end', 'head', 'end'],
    );
  }
});

/** A parser with callbacks that record calls by name, and what idle and failed said after each. */
function recordingParser(): { parser: RequestParser; calls: string[]; errors: ParseError[] } {
  const calls: string[] = [];
  const errors: ParseError[] = [];
  const callbacks: ParserCallbacks = {
    onHead: () => calls.push('head'),
    onBody: () => calls.push('body'),
    onMessageEnd: () => calls.push('end'),
    onError: (e) => {
      calls.push('error');
      errors.push(e);
    },
  };
  return { parser: new RequestParser(callbacks, DEFAULT_TEST_LIMITS), calls, errors };
}

test('RequestParser is idle only between messages', () => {
  const { parser, calls } = recordingParser();
  assert.equal(parser.idle, true);
  parser.execute(bytes('\r\n'));
  assert.equal(parser.idle, true, 'empty lines before a request are not a message');
  parser.execute(bytes('GET / HT'));
  assert.equal(parser.idle, false);
  parser.execute(bytes('TP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n'));
  assert.equal(parser.idle, false, 'the body is still due');
  parser.execute(bytes('o'));
  assert.equal(parser.idle, false);
  parser.execute(bytes('k'));
  assert.equal(parser.idle, true);
  assert.equal(parser.failed, false);
  assert.deepEqual(calls, ['head', 'body', 'body', 'end']);
});

test('RequestParser stops for good after an error', () => {
  const { parser, calls, errors } = recordingParser();
  parser.execute(bytes('GET / HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/9.9\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n'));
  assert.equal(parser.failed, true);
  assert.equal(parser.idle, false);
  parser.execute(bytes('GET / HTTP/1.1\r\nHost: h\r\n\r\n'));
  assert.deepEqual(calls, ['head', 'end', 'error']);
  assert.equal(errors[0]?.status, 505);
  assert.match(errors[0]?.message ?? '', /^[A-Z][^.]*[^.]$/, 'sentence case without a trailing period');
});

test('RequestParser reports 414 while the target is still arriving', () => {
  const { parser, calls, errors } = recordingParser();
  parser.execute(bytes('GET /'));
  for (let i = 0; i < DEFAULT_TEST_LIMITS.maxTargetLength && calls.length === 0; i += 1000) {
    parser.execute(Buffer.alloc(1000, 'a'));
  }
  assert.deepEqual(calls, ['error']);
  assert.equal(errors[0]?.code, 'target-too-long');
});

test('RequestParser reports 431 while a field line is still arriving', () => {
  const { parser, errors } = recordingParser();
  parser.execute(bytes('GET / HTTP/1.1\r\nHost: h\r\nX-Flood: '));
  for (let i = 0; i < DEFAULT_TEST_LIMITS.maxHeaderBytes && errors.length === 0; i += 512) {
    parser.execute(Buffer.alloc(512, 'x'));
  }
  assert.equal(errors[0]?.status, 431);
  assert.equal(parser.failed, true);
});

test('RequestParser reports 413 for a large Content-Length before any body byte arrives', () => {
  const { parser, calls, errors } = recordingParser();
  parser.execute(bytes(`POST / HTTP/1.1\r\nHost: h\r\nContent-Length: ${DEFAULT_TEST_LIMITS.maxBodyBytes + 1}\r\n\r\n`));
  assert.deepEqual(calls, ['error']);
  assert.equal(errors[0]?.code, 'content-length-too-large');
});

test('RequestParser holds after a request that asks to upgrade: the bytes after it are the caller\'s until resume()', () => {
  const { parser, calls } = recordingParser();
  const upgrade = 'GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n';
  const frame = '\x81\x05hello';
  const input = bytes(upgrade + frame);
  assert.equal(parser.execute(input), upgrade.length, 'the frame is not taken');
  assert.deepEqual(calls, ['head', 'end']);
  assert.equal(parser.held, true);
  assert.equal(parser.idle, true, 'no partial message is buffered');
  assert.equal(parser.execute(bytes('GET / HTTP/1.1\r\n')), 0, 'nothing is taken while it holds');
  parser.resume();
  assert.equal(parser.held, false);
  // Not switched after all: what follows is parsed as HTTP again.
  const next = 'GET /next HTTP/1.1\r\nHost: h\r\n\r\n';
  assert.equal(parser.execute(bytes(next)), next.length);
  assert.deepEqual(calls, ['head', 'end', 'head', 'end']);
  // A body of the upgrade request is read first; a chunked one to its trailers.
  const post = 'POST /ws HTTP/1.1\r\nHost: h\r\nUpgrade: x\r\nConnection: upgrade\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n';
  assert.equal(parser.execute(bytes(post + 'rest')), post.length);
  assert.equal(parser.held, true);
  assert.deepEqual(calls.slice(4), ['head', 'body', 'end']);
});

test('RequestParser keeps heads of pipelined requests apart', () => {
  const heads: Array<{ headers: Map<string, string>; rawHeaders: unknown }> = [];
  const parser = new RequestParser(
    { onHead: (h) => heads.push(h), onBody: () => {}, onMessageEnd: () => {}, onError: () => assert.fail('no error expected') },
    DEFAULT_TEST_LIMITS,
  );
  parser.execute(bytes('GET /a HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\r\nGET /b HTTP/1.1\r\nHost: b\r\n\r\n'));
  assert.equal(heads.length, 2);
  assert.deepEqual([...(heads[0]?.headers ?? [])], [['host', 'a'], ['x-a', '1']]);
  assert.deepEqual([...(heads[1]?.headers ?? [])], [['host', 'b']]);
  assert.notEqual(heads[0]?.rawHeaders, heads[1]?.rawHeaders);
});

test('RequestParser reads a buffer given again with other bytes after a callback threw, not the text decoded before', () => {
  const events: string[] = [];
  let throwOnce = true;
  const callbacks: ParserCallbacks = {
    onHead: (head) => {
      events.push(`head ${head.path} ${head.rawHeaders.join(' ')}`);
      if (throwOnce) {
        throwOnce = false;
        throw new Error('a callback failed');
      }
    },
    onBody: () => undefined,
    onMessageEnd: () => events.push('end'),
    onError: (error) => events.push(`error ${error.code}`),
  };
  const parser = new RequestParser(callbacks, DEFAULT_TEST_LIMITS);
  // Both texts are the same length, so the buffer is reused whole, as a shared read buffer is.
  const first = 'GET /first HTTP/1.1\r\nHost: h\r\nX-A: aaaa\r\n\r\n';
  const second = 'GET /again HTTP/1.1\r\nHost: h\r\nX-B: bbbb\r\n\r\n';
  assert.equal(first.length, second.length);
  const buffer = bytes(first);
  assert.throws(() => parser.execute(buffer), /a callback failed/);
  // The first request's end never came: the parser is at its body (none), then idle again.
  bytes(second).copy(buffer);
  parser.execute(buffer);
  assert.deepEqual(events.slice(-2), ['head /again Host h X-B bbbb', 'end']);
});
