import assert from 'node:assert/strict';
import type { RequestLogRecord } from '../../../src/server/log';
import type { ServerOptions } from '../../../src/server/options';
import { startLogged } from './server';
import { createFixtureSite, type FixtureSite } from './fixture-site';
import { exchange, parseResponses, type RawResponse } from './raw';

/** A fixture site served on a real socket, with the request log it produced. */
export interface ServedSite {
  readonly port: number;
  readonly site: FixtureSite;
  readonly records: RequestLogRecord[];
  /** One request on its own connection; `extra` is more header lines, each ending in CRLF. */
  request(target: string, extra?: string, method?: string): Promise<RawResponse>;
}

/**
 * Serves a fixture site on 127.0.0.1, port 0 (live reload off unless `options` turns it on),
 * runs `run`, then closes the server and removes the site.
 */
export async function withServedSite(
  files: Record<string, string | Buffer>,
  run: (served: ServedSite) => Promise<void>,
  options: Partial<ServerOptions> = {},
): Promise<void> {
  const site = createFixtureSite(files);
  const { server, records } = await startLogged({ host: '127.0.0.1', ...options, root: site.root });
  const { port } = server;
  const request = async (target: string, extra = '', method = 'GET'): Promise<RawResponse> => {
    const raw = `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}Connection: close\r\n\r\n`;
    const responses = parseResponses(await exchange(port, raw, 20_000), method === 'HEAD' ? 1 : 0);
    assert.equal(responses.length, 1, `one response to ${target}`);
    return responses[0] as RawResponse;
  };
  try {
    await run({ port, site, records, request });
  } finally {
    await server.close();
    site.remove();
  }
}
