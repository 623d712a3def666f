/**
 * True when a Cache-Control value has the no-transform directive: an intermediary must not
 * change the content (RFC 9111 sections 5.2.1.6 and 5.2.2.6).
 */
export function noTransform(cacheControl: string | undefined): boolean {
  if (cacheControl === undefined) return false;
  return cacheControl.split(',').some((directive) => (directive.split('=')[0] ?? '').trim().toLowerCase() === 'no-transform');
}

/** A Vary value that also names the fields in `names` (comma-separated); `*` stays `*`. */
export function varyWith(previous: string | undefined, names: string): string {
  if (previous === undefined || previous.trim() === '') return names;
  const listed = previous.split(',').map((name) => name.trim().toLowerCase());
  if (listed.includes('*')) return '*';
  const added = names
    .split(',')
    .map((name) => name.trim())
    .filter((name) => !listed.includes(name.toLowerCase()));
  return added.length === 0 ? previous : `${previous}, ${added.join(', ')}`;
}
