import { relative, sep } from 'node:path';
import { isInside } from '../static/paths';

/**
 * A glob as VS Code's settings write them (`files.watcherExclude`), as a RegExp over a path
 * relative to the served folder with `/` separators: `**` spans folders (`**\/` also none),
 * `*` and `?` stay within a name, `{a,b}` is either. Everything else is literal.
 */
export function globToRegExp(glob: string): RegExp {
  let source = '';
  const pattern = glob.replace(/^\.?\//, '');
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i] as string;
    if (char === '*' && pattern[i + 1] === '*') {
      const slashAfter = pattern[i + 2] === '/';
      source += slashAfter ? '(?:.*/)?' : '.*';
      i += slashAfter ? 2 : 1;
    } else if (char === '*') {
      source += '[^/]*';
    } else if (char === '?') {
      source += '[^/]';
    } else if (char === '{') {
      const close = pattern.indexOf('}', i);
      if (close < 0) {
        source += '\\{';
        continue;
      }
      source += `(?:${pattern.slice(i + 1, close).split(',').map(escape).join('|')})`;
      i = close;
    } else {
      source += escape(char);
    }
  }
  // A folder's pattern (`**/dist`) also covers what is inside it.
  return new RegExp(`^${source}(?:/.*)?$`);
}

function escape(text: string): string {
  return text.replace(/[.+^${}()|[\]\\]/g, '\\$&');
}

/**
 * Drops the changed paths that `globs` match, relative to whichever of `roots` holds them, so
 * that changes nobody looks at (node_modules, .git, a build's cache) never reach pages.
 */
export function ignoreFilter(roots: readonly string[], globs: readonly string[]): (paths: readonly string[]) => readonly string[] {
  if (globs.length === 0) return (paths) => paths;
  const patterns = globs.map(globToRegExp);
  const ignored = (path: string): boolean => {
    const root = roots.find((r) => isInside(r, path));
    if (root === undefined) return false;
    const rel = relative(root, path).split(sep).join('/');
    return patterns.some((pattern) => pattern.test(rel));
  };
  return (paths) => paths.filter((path) => !ignored(path));
}
