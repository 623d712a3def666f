import { escapeHtml } from '../static/html';
import { statusPage } from '../static/errors-page';

/**
 * The page for an app that failed: the status, what went wrong in a sentence, and, on a
 * loopback server, the Python traceback (escaped: it quotes request data and source lines).
 */
export function appErrorPage(status: number, title: string, traceback: string): Buffer {
  const details = traceback === '' ? '' : `<pre>${escapeHtml(traceback)}</pre>\n`;
  return statusPage(status, `<p>${escapeHtml(title)}.</p>\n${details}`);
}
