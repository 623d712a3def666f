import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FRAME, FrameDecoder, MAX_PAYLOAD, TurnBatch, encodeCredit, encodeFrame, encodeJsonFrame, type Frame, type FrameSink } from '../../src/server/app/frames';
import { REQUEST_ITEMS, encodeResponseFrame, encodeStartFrame, headOf, jsonString, parseStart, splitResponse } from '../../src/server/app/heads';

function decodeAll(chunks: readonly Buffer[], maxPayload?: number): { frames: Frame[]; error: string | undefined } {
  const frames: Frame[] = [];
  const decoder = new FrameDecoder((frame) => frames.push({ ...frame, payload: Buffer.from(frame.payload) }), maxPayload);
  let error: string | undefined;
  for (const chunk of chunks) error ??= decoder.push(chunk)?.code;
  return { frames, error };
}

const FIXTURE = Buffer.concat([
  encodeJsonFrame(FRAME.request, 1, { method: 'GET', path: '/caf%C3%A9' }),
  encodeFrame(FRAME.body, 1, Buffer.from('hello')),
  encodeFrame(FRAME.end, 1),
  encodeCredit(FRAME.credit, 7, 65536),
  encodeFrame(FRAME.responseBody, 4294967295, Buffer.alloc(300, 0xab)),
  encodeJsonFrame(FRAME.requestAlone, 8, { method: 'HEAD' }),
  encodeResponseFrame(8, '200 OK', [['content-type', 'text/plain']], Buffer.from('whole')) as Buffer,
]);

function summary(frames: readonly Frame[]): string[] {
  return frames.map((f) => `${f.type}/${f.id}/${f.payload.toString('hex')}`);
}

test('FrameDecoder yields the same frames however the bytes are split (every offset, and byte by byte)', () => {
  const whole = decodeAll([FIXTURE]);
  assert.equal(whole.error, undefined);
  assert.equal(whole.frames.length, 7);
  assert.deepEqual(JSON.parse(whole.frames[0]?.payload.toString() ?? ''), { method: 'GET', path: '/caf%C3%A9' });
  assert.equal(whole.frames[3]?.payload.readUInt32BE(0), 65536);
  assert.equal(whole.frames[4]?.id, 4294967295);
  assert.deepEqual([whole.frames[5]?.type, whole.frames[6]?.type], [FRAME.requestAlone, FRAME.response]);
  const expected = summary(whole.frames);
  for (let at = 0; at <= FIXTURE.length; at++) {
    for (let second = at; second <= FIXTURE.length; second += 7) {
      const split = decodeAll([FIXTURE.subarray(0, at), FIXTURE.subarray(at, second), FIXTURE.subarray(second)]);
      assert.deepEqual(summary(split.frames), expected, `split at ${at} and ${second}`);
    }
  }
  const bytes = [...FIXTURE].map((b) => Buffer.from([b]));
  assert.deepEqual(summary(decodeAll(bytes).frames), expected);
});

test('FrameDecoder refuses an unknown type and an oversized length as error values, then accepts nothing more', () => {
  const unknown = Buffer.from([0, 0, 0, 0, 0x7f, 0, 0, 0, 1]);
  const result = decodeAll([encodeFrame(FRAME.end, 1), unknown, encodeFrame(FRAME.end, 2)]);
  assert.equal(result.error, 'frame-type-unknown');
  assert.equal(result.frames.length, 1, 'frames after the error are not delivered');
  const large = decodeAll([encodeFrame(FRAME.body, 1, Buffer.alloc(100))], 99);
  assert.equal(large.error, 'frame-too-large');
  assert.equal(large.frames.length, 0);
  // The length is refused from the header alone: no payload is buffered first.
  const header = Buffer.from([0xff, 0xff, 0xff, 0xff, FRAME.body, 0, 0, 0, 1]);
  assert.equal(decodeAll([header]).error, 'frame-too-large');
});

test('FrameDecoder.idle is true only between frames', () => {
  const decoder = new FrameDecoder(() => undefined);
  assert.equal(decoder.idle, true);
  const frame = encodeFrame(FRAME.body, 1, Buffer.from('abc'));
  decoder.push(frame.subarray(0, 4));
  assert.equal(decoder.idle, false);
  decoder.push(frame.subarray(4, 10));
  assert.equal(decoder.idle, false);
  decoder.push(frame.subarray(10));
  assert.equal(decoder.idle, true);
});

/** A FrameSink that records each write and whether it was corked. */
function recordingSink(): FrameSink & { writes: Array<{ bytes: Buffer; corked: boolean }> } {
  let corked = false;
  const writes: Array<{ bytes: Buffer; corked: boolean }> = [];
  return {
    writes,
    write: (bytes: Buffer) => writes.push({ bytes: Buffer.from(bytes), corked }),
    cork: () => (corked = true),
    uncork: () => (corked = false),
  };
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('TurnBatch writes the frames of one turn once, after the poll phase: small ones joined, a large batch corked; dropped ones never', async () => {
  const sink = recordingSink();
  const batch = new TurnBatch(sink);
  const small = [encodeJsonFrame(FRAME.request, 1, { method: 'GET' }), encodeFrame(FRAME.end, 1), encodeFrame(FRAME.end, 2)];
  for (const frame of small) batch.push(frame);
  assert.equal(sink.writes.length, 0, 'nothing before the turn ends');
  await nextTurn();
  assert.equal(sink.writes.length, 1);
  assert.deepEqual(sink.writes[0]?.bytes, Buffer.concat(small));
  assert.deepEqual(summary(decodeAll([sink.writes[0]?.bytes as Buffer]).frames), summary(decodeAll(small).frames));

  const body = encodeFrame(FRAME.body, 3, Buffer.alloc(64 * 1024, 7));
  batch.push(encodeFrame(FRAME.end, 4));
  batch.push(body);
  await nextTurn();
  assert.equal(sink.writes.length, 3, 'a batch over the join size is written frame by frame');
  assert.ok(sink.writes.slice(1).every((write) => write.corked), 'corked into one writev');
  assert.deepEqual(sink.writes[2]?.bytes, body);

  batch.push(encodeFrame(FRAME.end, 5));
  batch.flush();
  assert.equal(sink.writes.length, 4, 'flush writes at once');
  batch.push(encodeFrame(FRAME.end, 6));
  batch.drop();
  batch.push(encodeFrame(FRAME.end, 7));
  await nextTurn();
  assert.equal(sink.writes.length, 4, 'nothing after drop');
});

test('a START frame written field by field is the JSON the bridges expect, whatever the text holds', () => {
  const fields: Array<[string, string]> = [['content-type', 'text/plain'], ['x-odd', 'quote " backslash \\ caf\u00e9 \u2028']];
  const { frames } = decodeAll([encodeStartFrame(9, '200 "OK"', fields)]);
  assert.equal(frames[0]?.type, FRAME.start);
  assert.equal(frames[0]?.id, 9);
  assert.deepEqual(parseStart(frames[0]?.payload.toString() ?? ''), ['200 "OK"', ...fields.flat()]);
  assert.deepEqual(JSON.parse(decodeAll([encodeStartFrame(1, '204 No Content', [])]).frames[0]?.payload.toString() ?? ''), ['204 No Content']);
});

test('jsonString writes what JSON.stringify writes, for every UTF-16 code unit alone and within text, and for pairs', () => {
  for (let code = 0; code <= 0xffff; code++) {
    const char = String.fromCharCode(code);
    for (const text of [char, `a${char}b`]) assert.equal(jsonString(text), JSON.stringify(text), `U+${code.toString(16)}`);
  }
  for (const text of ['', 'text/html; charset=utf-8', 'caf\u00e9 " \\ \u2028', '\u{1F600}', '\ud83d', 'x\ude00y', 'tab\there']) {
    assert.equal(jsonString(text), JSON.stringify(text), text);
  }
});

test('a START head is read back only as an odd number of strings: the status, then names and values', () => {
  assert.deepEqual(parseStart('["200 OK","a","1"]'), ['200 OK', 'a', '1']);
  for (const malformed of ['["200 OK","a"]', '[]', '["200 OK","a",1]', '{"status":"200 OK","headers":[]}', '"200 OK"', '["200 OK"', '']) {
    assert.equal(parseStart(malformed), undefined, malformed);
  }
});

test('a REQUEST head is read by the Fetch bridge as the server writes it: nine items, then names and values', () => {
  const items = ['GET', '/x', 'q=1', 'HTTP/1.1', '127.0.0.1', 5000, '/mount', 'localhost', 8000, 'host', 'localhost:8000', 'accept', '*/*'];
  assert.equal(REQUEST_ITEMS, 9);
  assert.deepEqual(headOf(JSON.stringify(items)), {
    method: 'GET', path: '/x', query: 'q=1', scriptName: '/mount', serverName: 'localhost', serverPort: 8000, fields: ['host', 'localhost:8000', 'accept', '*/*'],
  });
  for (const malformed of [JSON.stringify(items.slice(0, 8)), JSON.stringify(items.slice(0, 10)), '{}', 'not json']) {
    assert.equal(headOf(malformed), undefined, malformed);
  }
});

test('a RESPONSE frame carries the START JSON and the whole body, and splits back into them; a short or overlong head length is malformed', () => {
  const fields: Array<[string, string]> = [['content-type', 'text/plain'], ['x-odd', 'caf\u00e9 " \\ \u2028']];
  for (const body of [Buffer.alloc(0), Buffer.from('caf\u00e9 body'), Buffer.alloc(70_000, 0x61)]) {
    const { frames, error } = decodeAll([encodeResponseFrame(3, '201 Created', fields, body) as Buffer]);
    assert.equal(error, undefined);
    assert.equal(frames[0]?.type, FRAME.response);
    assert.equal(frames[0]?.id, 3);
    const parts = splitResponse(frames[0]?.payload ?? Buffer.alloc(0));
    assert.deepEqual(parseStart(parts?.head ?? ''), ['201 Created', ...fields.flat()]);
    assert.deepEqual(parts?.body, body);
  }
  // A head and body too large for one frame together are refused, for START and BODY to carry.
  assert.equal(encodeResponseFrame(4, '200 OK', [['x-big', 'v'.repeat(MAX_PAYLOAD - 40)]], Buffer.alloc(100)), undefined);
  assert.notEqual(encodeResponseFrame(4, '200 OK', [['x-big', 'v'.repeat(MAX_PAYLOAD - 100)]], Buffer.alloc(0)), undefined);
  assert.equal(splitResponse(Buffer.from([0, 0, 0])), undefined);
  assert.equal(splitResponse(Buffer.from([0, 0, 0, 9, 0x7b, 0x7d])), undefined);
  assert.deepEqual(splitResponse(Buffer.from([0, 0, 0, 2, 0x7b, 0x7d])), { head: '{}', body: Buffer.alloc(0) });
});
