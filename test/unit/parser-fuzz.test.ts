import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PARSE_ERROR } from '../../src/http/parse-errors';
import { RequestParser, type ParserLimits } from '../../src/http/parser';
import { ByteView, findForbiddenControl, findSpaceOrControl } from '../../src/http/scan';
import { DEFAULT_TEST_LIMITS, INVALID, VALID, parseChunks, type ParseEvent } from './fixtures/requests';

// Set PARSER_FUZZ_SEED to replay a failure; every assertion message names the seed.
const SEED = Number(process.env.PARSER_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 32));
const STATUSES = new Set([400, 413, 414, 431, 501, 505]);
const CODES = new Set(Object.values(PARSE_ERROR).map((e) => e.code));
const SEEDS = [...VALID, ...INVALID].map((f) => Buffer.from(f.raw, 'latin1'));
const INTERESTING = Buffer.from('\r\n \t:;,=0123456789abcdefABCDEF/?*\x00\x01\x7f\x80\xff', 'latin1');
const HTTPISH = Buffer.from('GET POST HTTP/1.1 HTTP/1.0 Host: Content-Length: Transfer-Encoding: chunked 0\r\n\r\n', 'latin1');

/** mulberry32: small, fast and good enough to drive a fuzzer reproducibly. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

class Fuzzer {
  readonly random = prng(SEED);

  int(below: number): number {
    return Math.floor(this.random() * below);
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new Error('pick() from an empty list');
    return item;
  }

  byte(): number {
    const from = this.int(3) === 0 ? INTERESTING : this.int(2) === 0 ? HTTPISH : null;
    return from === null ? this.int(256) : (from[this.int(from.length)] ?? 0);
  }

  randomBytes(): Buffer {
    return Buffer.from(Array.from({ length: this.int(300) }, () => this.byte()));
  }

  /** A fixture with one to four bit flips, insertions, deletions or line edits. */
  mutated(): Buffer {
    let raw: Buffer = this.pick(SEEDS);
    for (let n = 1 + this.int(4); n > 0; n--) raw = this.mutate(raw);
    return raw;
  }

  private mutate(raw: Buffer): Buffer {
    const at = this.int(raw.length + 1);
    switch (this.int(6)) {
      case 0: {
        const copy = Buffer.from(raw);
        if (at < copy.length) copy[at] = (copy[at] ?? 0) ^ (1 << this.int(8));
        return copy;
      }
      case 1:
        return Buffer.concat([raw.subarray(0, at), Buffer.from([this.byte()]), raw.subarray(at)]);
      case 2:
        return Buffer.concat([raw.subarray(0, at), raw.subarray(at + 1 + this.int(4))]);
      case 3:
        return this.editLines(raw);
      case 4:
        return Buffer.concat([raw, this.pick(SEEDS)]);
      default:
        return raw.subarray(0, at);
    }
  }

  /** Duplicates, drops or swaps whole lines. */
  private editLines(raw: Buffer): Buffer {
    const lines = raw.toString('latin1').split(/(?<=\n)/);
    const i = this.int(lines.length);
    const j = this.int(lines.length);
    const line = lines[i] ?? '';
    const edit = this.int(3);
    if (edit === 0) lines.splice(i, 0, line);
    else if (edit === 1) lines.splice(i, 1);
    else [lines[i], lines[j]] = [lines[j] ?? '', line];
    return Buffer.from(lines.join(''), 'latin1');
  }

  limits(): ParserLimits {
    if (this.int(2) === 0) return DEFAULT_TEST_LIMITS;
    return { maxTargetLength: 1 + this.int(60), maxHeaderBytes: 8 + this.int(200), maxBodyBytes: this.int(50) };
  }

  /** `raw` cut at up to five random places. */
  split(raw: Buffer): Buffer[] {
    const cuts = Array.from({ length: this.int(6) }, () => this.int(raw.length + 1)).sort((a, b) => a - b);
    const chunks: Buffer[] = [];
    let from = 0;
    for (const cut of [...cuts, raw.length]) {
      chunks.push(raw.subarray(from, cut));
      from = cut;
    }
    return chunks;
  }
}

/** Asserts (head, body*, end)* [error] and that the parser's flags agree with the events. */
function assertGrammar(events: readonly ParseEvent[], context: string): void {
  let inMessage = false;
  events.forEach((event, i) => {
    const where = `${context}, event ${i}: ${JSON.stringify(event)}`;
    switch (event.type) {
      case 'head':
        assert.equal(inMessage, false, `head inside a message (${where})`);
        inMessage = true;
        break;
      case 'body':
      case 'end':
        assert.equal(inMessage, true, `${event.type} outside a message (${where})`);
        inMessage = event.type === 'body';
        break;
      case 'error':
        assert.equal(i, events.length - 1, `events after the error (${where})`);
        assert.ok(STATUSES.has(event.status), `unexpected status (${where})`);
        assert.ok(CODES.has(event.code), `unknown code (${where})`);
    }
  });
}

function check(raw: Buffer, fuzzer: Fuzzer, round: number): void {
  const limits = fuzzer.limits();
  const context = `seed ${SEED}, round ${round}, limits ${JSON.stringify(limits)}, input ${JSON.stringify(raw.toString('latin1'))}`;
  const whole = parseChunks([raw], limits);
  assertGrammar(whole, context);
  const chunks = fuzzer.split(raw);
  assert.deepEqual(parseChunks(chunks, limits), whole, `${context}, chunks ${chunks.map((c) => c.length).join('+')}`);
  if (round % 8 === 0) {
    const bytes = Array.from(raw, (b) => Buffer.from([b]));
    assert.deepEqual(parseChunks(bytes, limits), whole, `${context}, byte by byte`);
  }
}

test('RequestParser survives random bytes with the callback grammar and the same result for any chunking', { timeout: 30_000 }, () => {
  const fuzzer = new Fuzzer();
  for (let round = 0; round < 4000; round++) check(fuzzer.randomBytes(), fuzzer, round);
});

test('RequestParser survives mutated requests with the callback grammar and the same result for any chunking', { timeout: 30_000 }, () => {
  const fuzzer = new Fuzzer();
  for (let round = 0; round < 8000; round++) check(fuzzer.mutated(), fuzzer, round);
});

test('RequestParser flags agree with its callbacks on mutated requests', () => {
  const fuzzer = new Fuzzer();
  for (let round = 0; round < 1000; round++) {
    const raw = fuzzer.mutated();
    let errors = 0;
    let open = false;
    const parser = new RequestParser(
      {
        onHead: () => (open = true),
        onBody: () => {},
        onMessageEnd: () => (open = false),
        onError: () => errors++,
      },
      DEFAULT_TEST_LIMITS,
    );
    for (const chunk of fuzzer.split(raw)) {
      parser.execute(chunk);
      const context = `seed ${SEED}, round ${round}, input ${JSON.stringify(raw.toString('latin1'))}`;
      assert.equal(parser.failed, errors === 1, context);
      if (parser.idle) assert.equal(open, false, `idle inside a message (${context})`);
    }
    assert.ok(errors <= 1, `seed ${SEED}: onError more than once`);
  }
});

test('findForbiddenControl() and findSpaceOrControl() agree with a byte loop at every alignment', () => {
  const fuzzer = new Fuzzer();
  const naive = (bytes: Uint8Array, from: number, to: number, space: boolean): number => {
    for (let k = from; k < to; k++) {
      const c = bytes[k] ?? 0;
      if ((c < 0x20 && (space || c !== 0x09)) || c === 0x7f || (space && c === 0x20)) return k;
    }
    return -1;
  };
  for (let round = 0; round < 20_000; round++) {
    // Mostly harmless bytes, so that the first stop can be anywhere in a long run.
    const backing = Buffer.from(Array.from({ length: 4 + fuzzer.int(120) }, () => (fuzzer.int(12) === 0 ? fuzzer.byte() : 0x21 + fuzzer.int(0x5e))));
    const bytes = backing.subarray(fuzzer.int(4));
    const view = new ByteView(bytes);
    const from = fuzzer.int(bytes.length + 1);
    const to = from + fuzzer.int(bytes.length - from + 1);
    const context = `seed ${SEED}, round ${round}, offset ${bytes.byteOffset}, [${from}, ${to}) of ${JSON.stringify(bytes.toString('latin1'))}`;
    assert.equal(findForbiddenControl(view, from, to), naive(bytes, from, to, false), context);
    assert.equal(findSpaceOrControl(view, from, to), naive(bytes, from, to, true), context);
  }
});
