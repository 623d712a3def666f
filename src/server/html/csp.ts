/**
 * What a page's Content Security Policy (CSP Level 3, https://www.w3.org/TR/CSP3/) says about a
 * script element that this server adds to it: a same-origin `<script src>` the parser inserts.
 * Only what that needs is read; the policy itself is never changed.
 */

/** A nonce that may be written into an attribute as it is: the base64-value of CSP3 section 2.3.1, loosely. */
const NONCE_VALUE = /^[A-Za-z0-9+/_=-]+$/;
const NONCE_SOURCE = /^'nonce-(.*)'$/i;
/** ASCII white space, which separates a directive's name and values (CSP3 section 2.2.1). */
const WHITE_SPACE = /[\t\n\f\r ]+/;
/** The directives that govern a script element, most specific first (CSP3 section 6.8.3, script-src-elem). */
const SCRIPT_ELEMENT_DIRECTIVES = ['script-src-elem', 'script-src', 'default-src'] as const;

/**
 * The policies of a Content-Security-Policy field (CSP3 section 3.1): a comma separates them, and
 * repeated fields, joined with ", ", are one list.
 */
export function policiesOf(field: string): string[] {
  return field.split(',');
}

/**
 * The nonce to put on an added script element so that every policy in `policies` (each one
 * serialized policy: a field's items, a `<meta>`'s content) lets it run; undefined when none is
 * needed or none would do.
 *
 * A policy whose governing directive names nonces must see one of them, unless it allows the
 * script anyway by `'self'` or `*` (which `'strict-dynamic'` turns off, CSP3 section 8.2); the
 * nonce is one they all name. A policy that names no nonce is not consulted: it allows the script
 * (no directive governs it, or it names the page's own origin in a way this server cannot see:
 * a host or scheme) or blocks it whatever it carries (`'none'`, hashes only). A nonce that is no
 * base64 value is no nonce source to a browser either, and is never written into the page.
 */
export function scriptNonce(policies: Iterable<string>): string | undefined {
  let common: string[] | undefined;
  for (const policy of policies) {
    const sources = governingSources(policy);
    if (sources === undefined) continue;
    const nonces = noncesOf(sources);
    if (nonces.length === 0 || allowsOwnOrigin(sources)) continue;
    common = common === undefined ? nonces : common.filter((nonce) => nonces.includes(nonce));
  }
  return common?.[0];
}

/** The source list of the directive that governs a script element, if the policy has one. */
function governingSources(policy: string): string[] | undefined {
  const directives = new Map<string, string[]>();
  for (const token of policy.split(';')) {
    const [name, ...values] = token.trim().split(WHITE_SPACE);
    // The first directive of a name counts; a later one is ignored (CSP3 section 2.2.1, step 2.4).
    if (name !== undefined && name !== '' && !directives.has(name.toLowerCase())) directives.set(name.toLowerCase(), values);
  }
  for (const name of SCRIPT_ELEMENT_DIRECTIVES) {
    const sources = directives.get(name);
    if (sources !== undefined) return sources;
  }
  return undefined;
}

function noncesOf(sources: readonly string[]): string[] {
  const nonces: string[] = [];
  for (const source of sources) {
    const value = NONCE_SOURCE.exec(source)?.[1];
    if (value !== undefined && NONCE_VALUE.test(value)) nonces.push(value);
  }
  return nonces;
}

/** `'self'` or `*` matches the tag's same-origin URL, unless `'strict-dynamic'` has them ignored. */
function allowsOwnOrigin(sources: readonly string[]): boolean {
  const lower = sources.map((source) => source.toLowerCase());
  return !lower.includes("'strict-dynamic'") && (lower.includes("'self'") || lower.includes('*'));
}
