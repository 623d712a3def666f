import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

export type ContentCoding = 'br' | 'gzip';

/** Smaller bodies gain little from compression and cost a header. */
export const MIN_COMPRESS_BYTES = 1024;

// One-entry memo: clients (and benchmarks) repeat the same Accept-Encoding on every request.
let lastHeader: string | undefined;
let lastChoice: ContentCoding | undefined;

/**
 * The coding to use for an Accept-Encoding value (RFC 9110 section 12.5.3): brotli or gzip when
 * acceptable with q > 0, the higher q winning and brotli on ties; undefined means identity.
 * `*` stands for any coding not listed.
 */
export function preferredCoding(header: string | undefined): ContentCoding | undefined {
  if (header === undefined || header === '') return undefined;
  if (header === lastHeader) return lastChoice;
  const choice = chooseCoding(header);
  lastHeader = header;
  lastChoice = choice;
  return choice;
}

function chooseCoding(header: string): ContentCoding | undefined {
  let br: number | undefined;
  let gzip: number | undefined;
  let any: number | undefined;
  for (const element of header.split(',')) {
    const semicolon = element.indexOf(';');
    const name = (semicolon < 0 ? element : element.slice(0, semicolon)).trim().toLowerCase();
    const q = semicolon < 0 ? 1 : qValue(element.slice(semicolon + 1));
    if (name === 'br') br = q;
    else if (name === 'gzip' || name === 'x-gzip') gzip = q;
    else if (name === '*') any = q;
  }
  const brQ = br ?? any ?? 0;
  const gzipQ = gzip ?? any ?? 0;
  if (brQ <= 0 && gzipQ <= 0) return undefined;
  return brQ >= gzipQ ? 'br' : 'gzip';
}

/** The weight in `q=0.5`-style parameters (section 12.4.2); unparsable weights count as 0. */
function qValue(parameters: string): number {
  for (const parameter of parameters.split(';')) {
    const equals = parameter.indexOf('=');
    if (equals < 0 || parameter.slice(0, equals).trim().toLowerCase() !== 'q') continue;
    const q = Number(parameter.slice(equals + 1).trim());
    return Number.isFinite(q) ? q : 0;
  }
  return 1;
}

/**
 * `body` compressed with `coding`, or undefined when that would not make it smaller. Brotli runs
 * at quality 5: close to the best ratio for text at a fraction of the time of quality 11, which
 * matters because compression runs on the event loop, once per file version.
 */
export function compress(body: Buffer, coding: ContentCoding): Buffer | undefined {
  const compressed =
    coding === 'br'
      ? brotliCompressSync(body, {
          params: {
            [constants.BROTLI_PARAM_QUALITY]: 5,
            [constants.BROTLI_PARAM_SIZE_HINT]: body.length,
          },
        })
      : gzipSync(body, { level: 6 });
  return compressed.length < body.length ? compressed : undefined;
}
