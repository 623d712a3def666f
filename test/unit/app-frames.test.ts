import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FRAME, FrameDecoder, encodeCredit, encodeFrame, encodeJsonFrame, type Frame } from '../../src/server/app/frames';

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
]);

function summary(frames: readonly Frame[]): string[] {
  return frames.map((f) => `${f.type}/${f.id}/${f.payload.toString('hex')}`);
}

test('FrameDecoder yields the same frames however the bytes are split (every offset, and byte by byte)', () => {
  const whole = decodeAll([FIXTURE]);
  assert.equal(whole.error, undefined);
  assert.equal(whole.frames.length, 5);
  assert.deepEqual(JSON.parse(whole.frames[0]?.payload.toString() ?? ''), { method: 'GET', path: '/caf%C3%A9' });
  assert.equal(whole.frames[3]?.payload.readUInt32BE(0), 65536);
  assert.equal(whole.frames[4]?.id, 4294967295);
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
