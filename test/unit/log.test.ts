import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BatchedRecords, LogBytes, formatRecord, type RequestLogRecord } from '../../src/server/log';

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
