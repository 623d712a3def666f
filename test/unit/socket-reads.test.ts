import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { test } from 'node:test';
import type { Handler } from '../../src/server/handler';
import { handOver, listenTo, readsIntoSharedBuffer, type SocketOwner } from '../../src/server/socket';
import { open, parseResponses } from './helpers/raw';
import { waitFor, withListener } from './helpers/server';

/** A socket owner that keeps a copy of each chunk and the memory it arrived in. */
class Recorder implements SocketOwner {
  readonly chunks: string[] = [];
  readonly memory: ArrayBufferLike[] = [];
  ended = false;
  onChunk: (chunk: Buffer) => void = () => undefined;
  onData(chunk: Buffer): void {
    this.chunks.push(chunk.toString('latin1'));
    this.memory.push(chunk.buffer);
    this.onChunk(chunk);
  }
  onEnd(): void {
    this.ended = true;
  }
  onSocketClose(): void {}
  onDrain(): void {}
}

/** A server accepting as the Listener does (paused), whose sockets `accept` takes. */
async function withAccepting(accept: (socket: Socket) => void, run: (port: number) => Promise<void>): Promise<void> {
  const accepted: Socket[] = [];
  const server: Server = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (socket) => {
    accepted.push(socket);
    accept(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(typeof address === 'object' && address !== null);
  try {
    await run(address.port);
  } finally {
    for (const socket of accepted) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
}

const settle = (ms = 30): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

test(`accepted sockets read into one shared buffer on this Node (${process.version})`, async () => {
  const owners: Recorder[] = [];
  const sockets: Socket[] = [];
  await withAccepting(
    (socket) => {
      const owner = new Recorder();
      owners.push(owner);
      sockets.push(socket);
      listenTo(socket, owner);
    },
    async (port) => {
      const a = await open(port);
      const b = await open(port);
      await waitFor(() => owners.length === 2, 3000, 'both sockets accepted');
      const [first, second] = owners as [Recorder, Recorder];
      a.write('first');
      await waitFor(() => first.chunks.length === 1, 3000, 'the first read');
      b.write('second');
      await waitFor(() => second.chunks.length === 1, 3000, 'the second read');
      a.end();
      await waitFor(() => first.ended, 3000, "'end' on the server side");
      assert.deepEqual([first.chunks, second.chunks], [['first'], ['second']]);
      assert.ok(
        sockets.every(readsIntoSharedBuffer),
        "this Node's accepted sockets no longer take the onread fields: see readIntoSharedBuffer in src/server/socket.ts",
      );
      assert.equal(first.memory[0], second.memory[0], 'both reads landed in the same memory');
      b.destroy();
    },
  );
});

test('with streamReads each read arrives in a buffer of its own', async () => {
  const owner = new Recorder();
  let shared: boolean | undefined;
  await withAccepting(
    (socket) => {
      listenTo(socket, owner, true);
      shared = readsIntoSharedBuffer(socket);
    },
    async (port) => {
      const a = await open(port);
      a.write('one');
      await waitFor(() => owner.chunks.length === 1, 3000, 'the first read');
      a.write('two');
      await waitFor(() => owner.chunks.length === 2, 3000, 'the second read');
      assert.equal(shared, false);
      assert.deepEqual(owner.chunks, ['one', 'two']);
      assert.notEqual(owner.memory[0], owner.memory[1]);
      a.destroy();
    },
  );
});

test('pause() stops reads into the shared buffer until resume()', async () => {
  const owner = new Recorder();
  let server: Socket | undefined;
  await withAccepting(
    (socket) => {
      server = socket;
      owner.onChunk = () => socket.pause();
      listenTo(socket, owner);
    },
    async (port) => {
      const client = await open(port);
      client.write('a');
      await waitFor(() => owner.chunks.length === 1, 3000, 'the first read');
      client.write('b');
      await settle(100);
      assert.deepEqual(owner.chunks, ['a'], 'nothing read while paused');
      owner.onChunk = () => undefined;
      server?.resume();
      await waitFor(() => owner.chunks.length === 2, 3000, 'the read after resume()');
      assert.deepEqual(owner.chunks, ['a', 'b']);
      client.destroy();
    },
  );
});

test("after handOver a socket that read into the shared buffer gives 'data' listeners copies and pipes", async () => {
  const owner = new Recorder();
  const piped: string[] = [];
  const copies: Buffer[] = [];
  await withAccepting(
    (socket) => {
      owner.onChunk = (chunk) => {
        handOver(socket);
        socket.on('data', (data: Buffer) => copies.push(data));
        socket.write(`took over after ${chunk.toString('latin1')}`);
        socket.pipe(socket);
      };
      listenTo(socket, owner);
    },
    async (port) => {
      const client = await open(port);
      client.on('data', (data: Buffer) => piped.push(data.toString('latin1')));
      client.write('hello');
      await waitFor(() => piped.join('') === 'took over after hello', 3000, 'the handover answer');
      client.write('ping');
      await waitFor(() => piped.join('').endsWith('ping'), 3000, 'the echo through pipe()');
      assert.deepEqual(owner.chunks, ['hello'], 'the first owner got nothing after handOver');
      assert.deepEqual(
        copies.map((c) => c.toString('latin1')),
        ['ping'],
      );
      assert.notEqual(copies[0]?.buffer, owner.memory[0], 'a copy, not a view of the buffer the next read overwrites');
      client.destroy();
    },
  );
});

const echo: Handler = async (request) => {
  let body = request.body;
  if (request.bodyStream !== undefined) {
    const parts: Buffer[] = [];
    for await (const part of request.bodyStream) parts.push(part as Buffer);
    body = Buffer.concat(parts);
  }
  return { status: 200, headers: { 'Content-Type': 'text/plain' }, body: Buffer.from(`${request.method} ${request.target} ${body.toString('latin1')}`) };
};

for (const streamReads of [false, true]) {
  for (const streamBodies of [false, true]) {
    const name = `${streamReads ? 'stream reads' : 'shared buffer'}, ${streamBodies ? 'streamed' : 'whole'} bodies`;
    test(`${name}: a body split across reads stays whole while another connection's reads come in between`, async () => {
      await withListener(
        [echo],
        async (port) => {
          const a = await open(port);
          const b = await open(port);
          const answers: Buffer[] = [];
          a.on('data', (data: Buffer) => answers.push(data));
          b.on('data', () => undefined);
          const body = 'A'.repeat(3000) + 'B'.repeat(3000);
          a.write(`POST /one HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 3000)}`);
          await settle();
          // b's request lands in the read buffer between a's two halves.
          b.write(`POST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 3000\r\n\r\n${'Z'.repeat(3000)}`);
          await settle();
          a.write(
            `${body.slice(3000)}POST /three HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`,
          );
          await settle();
          b.write(`GET /four HTTP/1.1\r\nHost: x\r\n\r\n`);
          await settle();
          a.write('6\r\n world\r\n0\r\n\r\n');
          await waitFor(() => parseResponses(Buffer.concat(answers)).length === 2, 5000, 'both answers on the first connection');
          assert.deepEqual(
            parseResponses(Buffer.concat(answers)).map((r) => r.body.toString('latin1')),
            [`POST /one ${body}`, 'POST /three hello world'],
          );
          a.destroy();
          b.destroy();
        },
        { streamBodies },
        streamReads,
      );
    });
  }
}

for (const streamReads of [false, true]) {
  const name = streamReads ? 'stream reads' : 'shared buffer';
  for (const [request, leave] of [
    ['GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 'ends its side'],
    ['GET /slow HTTP/1.0\r\n\r\n', 'resets the connection'],
  ] as const) {
    test(`${name}: a client whose request closes the connection and that ${leave} while the handler waits is noticed`, async () => {
      let goneAfter: number | undefined;
      let started = 0;
      const slow: Handler = (request) =>
        new Promise((resolve) => {
          started = Date.now();
          request.client?.whenGone(() => (goneAfter = Date.now() - started));
          setTimeout(() => resolve({ status: 200, headers: {}, body: Buffer.from('late') }), 1500);
        });
      await withListener(
        [slow],
        async (port) => {
          const client = await open(port);
          client.on('data', () => undefined);
          client.write(request);
          await waitFor(() => started > 0, 3000, 'the handler to start');
          await settle(50);
          if (leave === 'ends its side') client.end();
          else client.resetAndDestroy();
          // Well before the answer (1.5 s): the proxy and the app gateway abort their request then.
          await waitFor(() => goneAfter !== undefined, 1000, 'whenGone to fire');
          client.destroy();
        },
        {},
        streamReads,
      );
    });
  }
}
