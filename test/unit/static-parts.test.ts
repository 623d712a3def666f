import assert from 'node:assert/strict';
import { closeSync, statSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { preferredCoding } from '../../src/server/static/compress';
import { etagListMatchesStrongly, etagListMatchesWeakly, ifRangeMatches, isNotModified, parseHttpDateSeconds, preconditionFails } from '../../src/http/conditional';
import { mediaTypeFor } from '../../src/server/static/content-type';
import { CachedFile, FileCache, RACY_MARGIN_MS } from '../../src/server/static/file-cache';
import { formatSize } from '../../src/server/static/listing';
import { parseRange } from '../../src/http/range';
import { openVerified } from '../../src/server/static/open-file';
import { createFixtureSite, type FixtureSite } from './helpers/fixture-site';

test('parseRange() reads the three forms of a single byte range', () => {
  assert.deepEqual(parseRange('bytes=0-9', 100), { kind: 'range', start: 0, end: 9 });
  assert.deepEqual(parseRange('bytes=90-', 100), { kind: 'range', start: 90, end: 99 });
  assert.deepEqual(parseRange('bytes=-10', 100), { kind: 'range', start: 90, end: 99 });
  assert.deepEqual(parseRange('Bytes = 5-5', 100), { kind: 'range', start: 5, end: 5 });
});

test('parseRange() clamps an end past the file and a suffix longer than the file', () => {
  assert.deepEqual(parseRange('bytes=50-1000', 100), { kind: 'range', start: 50, end: 99 });
  assert.deepEqual(parseRange('bytes=-1000', 100), { kind: 'range', start: 0, end: 99 });
});

test('parseRange() reports ranges that select no byte as unsatisfiable', () => {
  assert.deepEqual(parseRange('bytes=100-', 100), { kind: 'unsatisfiable' });
  assert.deepEqual(parseRange('bytes=100-200', 100), { kind: 'unsatisfiable' });
  assert.deepEqual(parseRange('bytes=-0', 100), { kind: 'unsatisfiable' });
  assert.deepEqual(parseRange('bytes=0-', 0), { kind: 'unsatisfiable' });
  assert.deepEqual(parseRange('bytes=-0', 0), { kind: 'unsatisfiable' });
  // Satisfiable on an empty file (RFC 9110 section 14.1.1), but no 206 describes zero bytes: the whole (empty) 200.
  assert.deepEqual(parseRange('bytes=-5', 0), { kind: 'ignore' });
});

test('parseRange() ignores malformed values, other units and several ranges', () => {
  for (const value of ['bytes=', 'bytes=-', 'bytes=a-b', 'bytes=5-1', 'bytes=1-2-3', 'items=0-1', 'bytes 0-1', 'bytes=0-1,3-4', 'bytes=+1-2', 'bytes=0x1-2']) {
    assert.deepEqual(parseRange(value, 100), { kind: 'ignore' }, value);
  }
  assert.deepEqual(parseRange('bytes=0-1, ', 100), { kind: 'range', start: 0, end: 1 }, 'empty list elements are skipped');
});

test('etagListMatchesWeakly() matches *, exact tags, lists and weak forms', () => {
  const tag = '"abc-123"';
  assert.equal(etagListMatchesWeakly('"abc-123"', tag), true);
  assert.equal(etagListMatchesWeakly('*', tag), true);
  assert.equal(etagListMatchesWeakly('"x", "abc-123"', tag), true);
  assert.equal(etagListMatchesWeakly('W/"abc-123"', tag), true);
  assert.equal(etagListMatchesWeakly('"a,b" ,W/"abc-123"', tag), true, 'a comma inside a tag does not split it');
  assert.equal(etagListMatchesWeakly('"abc-1234"', tag), false);
  assert.equal(etagListMatchesWeakly('"abc-12"', tag), false);
  assert.equal(etagListMatchesWeakly('abc-123', tag), false, 'an unquoted tag is malformed');
  assert.equal(etagListMatchesWeakly('', tag), false);
});

test('isNotModified() lets If-None-Match decide over If-Modified-Since', () => {
  const lastModified = Math.floor(Date.UTC(2024, 0, 2, 3, 4, 5) / 1000);
  const later = 'Wed, 03 Jan 2024 00:00:00 GMT';
  const earlier = 'Mon, 01 Jan 2024 00:00:00 GMT';
  const exact = 'Tue, 02 Jan 2024 03:04:05 GMT';
  const headers = (entries: Record<string, string>): Map<string, string> => new Map(Object.entries(entries));
  assert.equal(isNotModified(headers({ 'if-modified-since': later }), '"t"', lastModified), true);
  assert.equal(isNotModified(headers({ 'if-modified-since': exact }), '"t"', lastModified), true);
  assert.equal(isNotModified(headers({ 'if-modified-since': earlier }), '"t"', lastModified), false);
  assert.equal(isNotModified(headers({ 'if-modified-since': 'yesterday' }), '"t"', lastModified), false);
  assert.equal(isNotModified(headers({ 'if-modified-since': '2099' }), '"t"', lastModified), false, 'not an HTTP-date, though Date.parse reads it');
  assert.equal(isNotModified(headers({ 'if-none-match': '"other"', 'if-modified-since': later }), '"t"', lastModified), false);
  assert.equal(isNotModified(headers({}), '"t"', lastModified), false);
  const future = new Date(Date.now() + 86_400_000).toUTCString();
  assert.equal(isNotModified(headers({ 'if-modified-since': future }), '"t"', lastModified), false, 'a date in the future is ignored');
});

test('parseHttpDateSeconds() reads the three HTTP-date forms exactly and nothing else', () => {
  const expected = Math.floor(Date.UTC(1994, 10, 6, 8, 49, 37) / 1000);
  assert.equal(parseHttpDateSeconds('Sun, 06 Nov 1994 08:49:37 GMT'), expected);
  assert.equal(parseHttpDateSeconds('Sunday, 06-Nov-94 08:49:37 GMT'), expected);
  assert.equal(parseHttpDateSeconds('Sun Nov  6 08:49:37 1994'), expected);
  assert.equal(parseHttpDateSeconds(' Sun, 06 Nov 1994 08:49:37 GMT '), expected, 'the field value\'s own whitespace aside');
  assert.equal(parseHttpDateSeconds('Sat, 29 Feb 2020 00:00:00 GMT'), Date.UTC(2020, 1, 29) / 1000);
  const year94 = new Date(0);
  year94.setUTCFullYear(94, 10, 6);
  year94.setUTCHours(8, 49, 37, 0);
  assert.equal(parseHttpDateSeconds('Sun, 06 Nov 0094 08:49:37 GMT'), year94.getTime() / 1000, 'year 94, not 1994');
  // A two-digit year is the latest with those digits not more than 50 years ahead.
  const year = new Date().getUTCFullYear();
  const soon = String((year + 1) % 100).padStart(2, '0');
  assert.equal(new Date((parseHttpDateSeconds(`Monday, 01-Jan-${soon} 00:00:00 GMT`) ?? 0) * 1000).getUTCFullYear(), year + 1);
  const late = String((year + 60) % 100).padStart(2, '0');
  assert.equal(new Date((parseHttpDateSeconds(`Monday, 01-Jan-${late} 00:00:00 GMT`) ?? 0) * 1000).getUTCFullYear(), year - 40);
  for (const value of ['2099', 'tomorrow 12', '2026-11-29', '2026-11-29T10:31:31Z', 'Sun, 06 Nov 1994 08:49:37 UTC', 'sun, 06 nov 1994 08:49:37 gmt', 'Sun, 6 Nov 1994 08:49:37 GMT', 'Tue, 31 Feb 2024 00:00:00 GMT', 'Mon, 29 Feb 2100 00:00:00 GMT', 'Tue, 01 Jan 2024 24:00:00 GMT', '']) {
    assert.equal(parseHttpDateSeconds(value), undefined, value);
  }
});

test('preconditionFails() checks If-Match strongly, then If-Unmodified-Since only without it', () => {
  const lastModified = Math.floor(Date.UTC(2024, 0, 2, 3, 4, 5) / 1000);
  const headers = (entries: Record<string, string>): Map<string, string> => new Map(Object.entries(entries));
  assert.equal(preconditionFails(headers({}), '"t"', lastModified), false);
  assert.equal(preconditionFails(headers({ 'if-match': '"t"' }), '"t"', lastModified), false);
  assert.equal(preconditionFails(headers({ 'if-match': '"x", "t"' }), '"t"', lastModified), false);
  assert.equal(preconditionFails(headers({ 'if-match': '*' }), '"t"', lastModified), false);
  assert.equal(preconditionFails(headers({ 'if-match': '"nope"' }), '"t"', lastModified), true);
  assert.equal(preconditionFails(headers({ 'if-match': 'W/"t"' }), '"t"', lastModified), true, 'a weak tag never matches strongly');
  assert.equal(preconditionFails(headers({ 'if-unmodified-since': 'Tue, 02 Jan 2024 03:04:05 GMT' }), '"t"', lastModified), false);
  assert.equal(preconditionFails(headers({ 'if-unmodified-since': 'Mon, 01 Jan 2024 00:00:00 GMT' }), '"t"', lastModified), true);
  assert.equal(preconditionFails(headers({ 'if-unmodified-since': '2000' }), '"t"', lastModified), false, 'an invalid date is ignored');
  assert.equal(preconditionFails(headers({ 'if-match': '"t"', 'if-unmodified-since': 'Mon, 01 Jan 2024 00:00:00 GMT' }), '"t"', lastModified), false, 'If-Match decides when present');
  assert.equal(etagListMatchesStrongly('"a,b", "t"', '"t"'), true);
});

test('ifRangeMatches() compares entity-tags strongly and dates exactly', () => {
  const lastModified = Math.floor(Date.UTC(2024, 0, 2, 3, 4, 5) / 1000);
  assert.equal(ifRangeMatches('"t"', '"t"', lastModified), true);
  assert.equal(ifRangeMatches('W/"t"', '"t"', lastModified), false);
  assert.equal(ifRangeMatches('"u"', '"t"', lastModified), false);
  assert.equal(ifRangeMatches('Tue, 02 Jan 2024 03:04:05 GMT', '"t"', lastModified), true);
  assert.equal(ifRangeMatches('Tue, 02 Jan 2024 03:04:06 GMT', '"t"', lastModified), false);
});

test('preferredCoding() prefers brotli, honours q-values and *', () => {
  assert.equal(preferredCoding('gzip, deflate, br, zstd'), 'br');
  assert.equal(preferredCoding('gzip'), 'gzip');
  assert.equal(preferredCoding('br;q=0.5, gzip;q=0.8'), 'gzip');
  assert.equal(preferredCoding('br;q=0, gzip'), 'gzip');
  assert.equal(preferredCoding('br;q=0, gzip;q=0'), undefined);
  assert.equal(preferredCoding('*'), 'br');
  assert.equal(preferredCoding('*;q=0.1, br;q=0'), 'gzip');
  assert.equal(preferredCoding('identity'), undefined);
  assert.equal(preferredCoding('deflate'), undefined);
  assert.equal(preferredCoding(''), undefined);
  assert.equal(preferredCoding(undefined), undefined);
  assert.equal(preferredCoding('GZIP ; Q=1'), 'gzip', 'coding names and parameters are case-insensitive');
});

test('mediaTypeFor() adds charset=utf-8 to text types other than XML and defaults to octet-stream', () => {
  assert.equal(mediaTypeFor('/s/index.html').contentType, 'text/html; charset=utf-8');
  assert.equal(mediaTypeFor('/s/INDEX.HTM').html, true);
  assert.equal(mediaTypeFor('/s/app.js').contentType, 'text/javascript; charset=utf-8');
  assert.equal(mediaTypeFor('/s/data.json').contentType, 'application/json; charset=utf-8');
  // XML declares its own encoding, which a charset parameter would override (RFC 7303 section 3.2).
  assert.equal(mediaTypeFor('/s/logo.svg').contentType, 'image/svg+xml');
  assert.equal(mediaTypeFor('/s/feed.xml').contentType, 'application/xml');
  assert.equal(mediaTypeFor('/s/site.webmanifest').contentType, 'application/manifest+json; charset=utf-8');
  assert.equal(mediaTypeFor('/s/photo.png').contentType, 'image/png');
  assert.equal(mediaTypeFor('/s/photo.png').compressible, false);
  assert.equal(mediaTypeFor('/s/module.wasm').compressible, true);
  assert.equal(mediaTypeFor('/s/file.unknownext').contentType, 'application/octet-stream');
  assert.equal(mediaTypeFor('/s/Makefile').contentType, 'application/octet-stream');
});

test('formatSize() uses binary units', () => {
  assert.equal(formatSize(0), '0 B');
  assert.equal(formatSize(1023), '1023 B');
  assert.equal(formatSize(1536), '1.5 KiB');
  assert.equal(formatSize(5 * 1024 * 1024), '5.0 MiB');
});

/** A cache entry for `relative`, read as the handler reads it: opened once, then from the descriptor. */
function cachedFile(site: FixtureSite, relative: string, statAt: number, key = `/${relative}`, cache = new FileCache()): CachedFile {
  const path = site.path(relative);
  const opened = openVerified(path);
  assert.ok('fd' in opened, `${relative} opens as a file`);
  try {
    const media = mediaTypeFor(path);
    return cache.load({ ...opened, statAt, key, root: site.root, lexicalPath: path, realPath: path, media, shadowedBy: undefined });
  } finally {
    closeSync(opened.fd);
  }
}

test('a cached file read within the racy margin of its change is not trusted by stat alone', () => {
  const site = createFixtureSite({ 'a.txt': 'aaaa' });
  try {
    assert.equal(cachedFile(site, 'a.txt', Date.now()).version.trusted, false);
    assert.equal(cachedFile(site, 'a.txt', Date.now() + RACY_MARGIN_MS + 1000).version.trusted, true);
  } finally {
    site.remove();
  }
});

test('a racy cached file is compared byte by byte, so a same-size rewrite is noticed', () => {
  const site = createFixtureSite({ 'a.txt': 'aaaa' });
  try {
    const entry = cachedFile(site, 'a.txt', Date.now());
    assert.equal(entry.isFresh(), true);
    const before = statSync(site.path('a.txt'));
    writeFileSync(site.path('a.txt'), 'bbbb');
    const after = statSync(site.path('a.txt'));
    // Whether or not the coarse file clock ticked, the entry must be stale now.
    assert.equal(entry.isFresh(), false, `stat before ${before.ctimeMs}, after ${after.ctimeMs}`);
  } finally {
    site.remove();
  }
});

test('a trusted cached file notices a change of size or time by stat in the next turn', async () => {
  const site = createFixtureSite({ 'a.txt': 'aaaa' });
  const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  try {
    // Requests handled in one poll phase arrived before the write, so they share the stat. A
    // turn also ends after 1 ms (MAX_TURN_MS in turn.ts), which a loaded machine can take
    // between the two checks: then that attempt shows nothing, and the next one is tried.
    let shared = 0;
    for (let attempt = 0; attempt < 20 && shared === 0; attempt++) {
      writeFileSync(site.path('a.txt'), 'aaaa');
      const entry = cachedFile(site, 'a.txt', Date.now() + RACY_MARGIN_MS + 1000);
      await nextTurn();
      const started = performance.now();
      assert.equal(entry.isFresh(), true);
      writeFileSync(site.path('a.txt'), 'aaaaa');
      const fresh = entry.isFresh();
      if (performance.now() - started >= 1) continue;
      assert.equal(fresh, true, 'the same turn shares one stat');
      shared++;
      await nextTurn();
      assert.equal(entry.isFresh(), false);
    }
    assert.equal(shared, 1, 'no attempt in 20 had its two checks within 1 ms: the machine is too loaded to show a shared turn');
    const other = cachedFile(site, 'a.txt', Date.now() + RACY_MARGIN_MS + 1000);
    site.remove();
    await nextTurn();
    assert.equal(other.isFresh(), false, 'a deleted file is stale');
  } finally {
    site.remove();
  }
});

test('FileCache evicts entries beyond its byte limit, keeping recently used ones', () => {
  const site = createFixtureSite({ 'a.txt': 'a'.repeat(1000), 'b.txt': 'b'.repeat(1000), 'c.txt': 'c'.repeat(1000) });
  try {
    const cache = new FileCache(3100, 100);
    const [a, b, c] = ['a.txt', 'b.txt', 'c.txt'].map((name) => cachedFile(site, name, Date.now()));
    assert.ok(a && b && c);
    cache.set(a);
    cache.set(b);
    a.used = true;
    cache.set(c);
    assert.equal(cache.get('/a.txt'), a, 'a was used, so it got a second chance');
    assert.equal(cache.get('/b.txt'), undefined, 'b was the least recently used');
    assert.equal(cache.get('/c.txt'), c);
    assert.ok(cache.totalBytes <= 3100);
    cache.clear();
    assert.equal(cache.size, 0);
    assert.equal(cache.totalBytes, 0);
  } finally {
    site.remove();
  }
});

test('FileCache limits the number of entries', () => {
  const site = createFixtureSite({ 'a.txt': 'a' });
  try {
    const cache = new FileCache(1 << 30, 3);
    for (let i = 0; i < 10; i++) cache.set(cachedFile(site, 'a.txt', Date.now(), `/a.txt?${i}`));
    assert.equal(cache.size, 3);
  } finally {
    site.remove();
  }
});
