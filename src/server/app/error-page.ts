import { statusText } from '../../http/status';
import { escapeHtml } from '../static/html';

/**
 * The page for an app that failed: the status, what went wrong in a sentence, and, on a
 * loopback server, the Python traceback (escaped: it quotes request data and source lines).
 */
export function appErrorPage(status: number, title: string, traceback: string): Buffer {
  const heading = `${status} ${statusText(status)}`;
  const details = traceback === '' ? '' : `<pre>${escapeHtml(traceback)}</pre>\n`;
  return Buffer.from(
    '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n' +
      '<meta name="viewport" content="width=device-width, initial-scale=1">\n' +
      `<title>${heading}</title>\n` +
      '<style>body{font:16px/1.5 system-ui,sans-serif;margin:3rem auto;max-width:60rem;padding:0 1rem;color:#222}' +
      'pre{background:#f2f2f2;padding:1rem;overflow:auto;font-size:13px}' +
      '@media (prefers-color-scheme:dark){body{background:#1e1e1e;color:#ddd}pre{background:#333}}</style>\n' +
      `</head>\n<body>\n<h1>${heading}</h1>\n<p>${escapeHtml(title)}.</p>\n${details}</body>\n</html>\n`,
    'utf8',
  );
}
