import type { Socket } from 'node:net';
import type { ResponseHead } from '../../http/response-parser';
import type { Response } from '../handler';

/** Turns an upstream's 101 answer into the response that hands the client's socket to a tunnel. */
export type Tunnel = (upstream: Socket, head: ResponseHead, fieldLines: string, reason: string) => Response;

/**
 * The 101 relayed to the client; once it is written the connection hands over its socket
 * (`Response.upgrade`) and bytes flow raw both ways, with backpressure (pipe), until either side
 * closes. A client gone before that releases the upstream connection.
 */
export const tunnel: Tunnel = (upstream, head, fieldLines, reason) => ({
  status: 101,
  headers: {},
  fieldLines: `${fieldLines}Upgrade: ${head.headers.get('upgrade') ?? ''}\r\n`,
  reason,
  upgrade: (client) => {
    if (client === undefined) {
      upstream.destroy();
      return;
    }
    const closeBoth = (): void => {
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      socket.on('error', closeBoth);
      socket.on('close', closeBoth);
    }
    upstream.pipe(client);
    client.pipe(upstream);
  },
});
