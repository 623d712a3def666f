/**
 * Common request field names as string literals. A name found here costs no slice and no
 * toLowerCase, and as a header map key its hash is already computed; for a typical browser
 * request that is a sixth of the parse time.
 */

/** A known name in lower case and in the capitalisation browsers and tools send. */
interface KnownName {
  /** A bit of its own among the known names, to track which were seen in a message. */
  readonly bit: number;
  readonly lower: string;
  readonly title: string;
  readonly lowerBytes: Uint8Array;
  readonly titleBytes: Uint8Array;
}

const BITS = 7;
const TABLE: ReadonlyArray<KnownName | undefined> = buildTable([
  'Accept', 'Accept-Encoding', 'Accept-Language', 'Authorization', 'Cache-Control', 'Connection',
  'Content-Length', 'Content-Type', 'Cookie', 'DNT', 'Expect', 'Host', 'If-Modified-Since',
  'If-None-Match', 'If-Range', 'Origin', 'Pragma', 'Priority', 'Range', 'Referer',
  'Sec-Fetch-Dest', 'Sec-Fetch-Mode', 'Sec-Fetch-Site', 'Sec-Fetch-User', 'Sec-CH-UA',
  'Sec-CH-UA-Mobile', 'Sec-CH-UA-Platform', 'Transfer-Encoding', 'Upgrade-Insecure-Requests',
  'User-Agent',
]);

/**
 * Adds byte `c` of a field name to `hash`, ignoring letter case. Other tchars may collide
 * with letters; `knownName` compares the whole name, so a collision only costs a lookup.
 */
export function nameHash(hash: number, c: number): number {
  return (Math.imul(hash, 73) + (c | 0x20)) | 0;
}

/**
 * The literals for the name in `bytes[start, start + length)`, whose `nameHash` is `hash`, when
 * it is a known name spelled in lower case (`lowerCase`) or in its usual capitalisation.
 */
export function knownName(hash: number, bytes: Uint8Array, start: number, length: number, lowerCase: boolean): KnownName | undefined {
  const known = TABLE[hash & ((1 << BITS) - 1)];
  if (known === undefined || known.lower.length !== length) return undefined;
  // Compare bytes: a builtin such as startsWith costs more than the whole loop.
  const expected = lowerCase ? known.lowerBytes : known.titleBytes;
  for (let i = 0; i < length; i++) if (bytes[start + i] !== expected[i]) return undefined;
  return known;
}

function buildTable(titles: readonly string[]): Array<KnownName | undefined> {
  if (titles.length > 31) throw new Error('Known field names need one bit each of a 31-bit mask');
  const table: Array<KnownName | undefined> = new Array<KnownName | undefined>(1 << BITS).fill(undefined);
  for (const title of titles) {
    let hash = 0;
    for (let i = 0; i < title.length; i++) hash = nameHash(hash, title.charCodeAt(i));
    const slot = hash & ((1 << BITS) - 1);
    // The multiplier 73 gives these names distinct slots; on a collision the first name would keep
    // the slot and the other would be parsed the ordinary way.
    const lower = title.toLowerCase();
    const bit = 1 << titles.indexOf(title);
    table[slot] ??= { bit, lower, title, lowerBytes: Buffer.from(lower, 'latin1'), titleBytes: Buffer.from(title, 'latin1') };
  }
  return table;
}

/**
 * Hop-by-hop fields (RFC 9110 section 7.6.1, with the obsolete Keep-Alive and Proxy-Connection):
 * they describe one connection, so they never pass from one connection to another; the fields a
 * Connection field names are hop-by-hop too. Lower case.
 */
export const HOP_BY_HOP_FIELDS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);
