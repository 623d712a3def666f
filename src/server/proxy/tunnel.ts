import type { Socket } from 'node:net';
import type { ResponseHead } from '../../http/response-parser';
import type { Response } from '../handler';

/** Turns an upstream's 101 answer into the response that hands the client's socket to a tunnel. */
export type Tunnel = (upstream: Socket, head: ResponseHead, fieldLines: string, reason: string) => Response;

/**
 * The 101 relayed to the client; once it is written the connection hands over its socket
 * (`Response.upgrade`) and bytes flow raw both ways, with backpressure (pipe): first what the
 * client sent before it had the 101, then everything else as it comes. A client gone before that
 * releases the upstream connection.
 *
 * How it ends: a side that ends its output (FIN) has it relayed once everything it sent is
 * written (an end, never a destroy that would drop what is still queued), and the other side may
 * go on sending, as TCP allows. From that first end on, a tunnel silent for `halfOpenMs` is
 * closed: a peer that never ends its half would otherwise hold two sockets forever. An idle
 * tunnel with both halves open (a WebSocket between messages) is the two ends' business. A side
 * that is reset or fails takes the other down at once.
 */
export function tunnelWith(halfOpenMs: number): Tunnel {
  return (upstream, head, fieldLines, reason) => ({
    status: 101,
    headers: {},
    fieldLines: `${fieldLines}Upgrade: ${head.headers.get('upgrade') ?? ''}\r\n`,
    reason,
    upgrade: (client, early) => {
      if (client === undefined) {
        upstream.destroy();
        return;
      }
      const destroyBoth = (): void => {
        client.destroy();
        upstream.destroy();
      };
      let halfOpen = false;
      const ended = (): void => {
        if (halfOpen) return;
        halfOpen = true;
        for (const socket of [client, upstream]) {
          socket.setTimeout(halfOpenMs);
          socket.once('timeout', destroyBoth);
        }
      };
      for (const [socket, other] of [[client, upstream], [upstream, client]] as const) {
        socket.on('error', destroyBoth);
        socket.on('end', ended);
        // Gone without ending its output (reset, destroyed): nothing more will be relayed either way.
        socket.on('close', () => {
          if (!socket.readableEnded) other.destroy();
        });
      }
      if (early !== undefined && early.length > 0) upstream.write(early);
      upstream.pipe(client);
      client.pipe(upstream);
    },
  });
}
