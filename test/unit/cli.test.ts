import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connectionBudget, parseOpenFileLimit } from '../../src/server/fd-limit';
import { runCli, waitForLine } from './helpers/cli';
import { exchange, get, open, parseResponses } from './helpers/raw';

function site(): string {
  const root = mkdtempSync(join(tmpdir(), 'tiny-cli-'));
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>cli</title><h1>Hello from the CLI</h1>');
  return root;
}

function occupy(): Promise<Server> {
  return new Promise((done) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => done(server));
  });
}

test('the CLI prints "Serving <root> at <url>" first, logs each request, and exits 0 on SIGTERM', async () => {
  const root = site();
  const running = runCli([root, '--port', '0']);
  try {
    const first = await waitForLine(running, /^Serving /);
    assert.equal(running.lines[0], first);
    const match = /^Serving (.+) at http:\/\/127\.0\.0\.1:(\d+)\/$/.exec(first);
    assert.ok(match, first);
    const port = Number(match[2]);
    const [response] = parseResponses(await exchange(port, get('/', 'Connection: close\r\n')));
    assert.equal(response?.status, 200);
    assert.match(response?.body.toString() ?? '', /Hello from the CLI/);
    await waitForLine(running, /GET \/ HTTP\/1\.1 200 /);
    running.child.kill('SIGTERM');
    assert.equal(await running.exited, 0);
  } finally {
    running.child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
});

test('a CLI whose output reader went away (tiny-server | head -1) goes on serving', async () => {
  const root = site();
  const running = runCli([root, '--port', '0']);
  try {
    const first = await waitForLine(running, /^Serving /);
    const port = Number(/:(\d+)\/$/.exec(first)?.[1]);
    // As `head -1` does after its line: the pipe's reading end is closed.
    running.child.stdout?.destroy();
    for (let i = 0; i < 3; i++) {
      const [response] = parseResponses(await exchange(port, get('/', 'Connection: close\r\n')));
      assert.equal(response?.status, 200, `request ${i + 1}`);
      // The request lines are written in batches: give one its turn to meet the closed pipe.
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    assert.equal(running.child.exitCode, null, 'still running');
    running.child.kill('SIGTERM');
    assert.equal(await running.exited, 0);
  } finally {
    running.child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
});

test('a SIGINT or SIGTERM sent the moment the CLI starts printing stops it cleanly (exit 0)', async () => {
  const root = site();
  try {
    // Each run signals on the first output bytes: the handlers must be in place before "Serving".
    for (let i = 0; i < 10; i++) {
      const signal = i % 2 === 0 ? 'SIGINT' : 'SIGTERM';
      const running = runCli([root, '--port', '0', '--no-reload']);
      try {
        running.child.stdout?.once('data', () => running.child.kill(signal));
        assert.equal(await running.exited, 0, `run ${i + 1}, ${signal}: ${JSON.stringify(running.lines)}`);
      } finally {
        running.child.kill('SIGKILL');
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the CLI moves from a taken port to the next free one and says so', async () => {
  const root = site();
  const blocker = await occupy();
  const taken = (blocker.address() as { port: number }).port;
  const running = runCli([root, '--port', String(taken), '--no-reload']);
  try {
    const first = await waitForLine(running, /^Serving /);
    const port = Number(/:(\d+)\/$/.exec(first)?.[1]);
    assert.notEqual(port, taken);
    await waitForLine(running, new RegExp(`Port ${taken} was in use`));
    running.child.kill('SIGINT');
    assert.equal(await running.exited, 0);
  } finally {
    running.child.kill('SIGKILL');
    blocker.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test('the CLI prints usage and exits 2 on bad arguments', async () => {
  for (const args of [['--port', 'eighty'], ['--bogus'], ['a', 'b'], ['--port', '70000']]) {
    const running = runCli(args);
    assert.equal(await running.exited, 2, args.join(' '));
    assert.ok(running.lines.some((l) => l.includes('Usage: tiny-server')), `usage printed for ${args.join(' ')}`);
  }
});

test('the CLI fails with a clear message when the root does not exist', async () => {
  const running = runCli(['/nonexistent/tiny-server-root', '--port', '0']);
  assert.equal(await running.exited, 1);
  assert.ok(running.lines.some((l) => /does not exist/.test(l)), JSON.stringify(running.lines));
});

test('the connection caps follow the open-file limit and leave descriptors for files and refusals', () => {
  const limits = 'Limit                     Soft Limit           Hard Limit           Units     \nMax open files            1024                 524288               files     \n';
  assert.equal(parseOpenFileLimit(limits), 1024);
  assert.equal(parseOpenFileLimit('Max processes 10 10 processes\n'), undefined);
  for (const fileLimit of [128, 1024, 20_000, 65_536]) {
    const budget = connectionBudget(fileLimit);
    // Each connection may have a file open while the refused ones drain, with room to spare.
    assert.ok(budget.maxConnections + budget.maxRefusing + fileLimit / 8 < fileLimit, `budget for ${fileLimit}: ${JSON.stringify(budget)}`);
    assert.ok(budget.maxEventStreams < budget.maxConnections);
  }
  // The benchmark holds 10,000 idle connections at a limit of 20,000.
  assert.ok(connectionBudget(20_000).maxConnections >= 10_000);
  assert.equal(connectionBudget(undefined).maxConnections, 20_000);
  assert.equal(connectionBudget(1_048_576).maxConnections, 20_000);
});

/** Sends a GET on `socket` and resolves with the status of the answer, or 0 when it closes unanswered. */
function statusOf(socket: Socket): Promise<number> {
  return new Promise((resolve) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('latin1');
      if (!text.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      resolve(Number(text.split(' ')[1]));
    };
    socket.on('data', onData);
    socket.once('close', () => resolve(0));
    socket.once('error', () => undefined);
    socket.write(get('/'));
  });
}

test('under a low open-file limit, clients past the connection cap get 503 instead of a reset', { skip: process.platform !== 'linux' }, async () => {
  const root = site();
  const running = runCli([root, '--port', '0', '-q', '--no-reload'], 128);
  const held: Socket[] = [];
  try {
    const port = Number(/:(\d+)\/$/.exec(await waitForLine(running, /^Serving /))?.[1]);
    const statuses: number[] = [];
    // One at a time, each kept open: the connections fill the cap, the ones past it are refused.
    for (let i = 0; i < 128; i++) {
      const socket = await open(port);
      held.push(socket);
      statuses.push(await statusOf(socket));
    }
    const served = statuses.indexOf(503);
    assert.ok(served > 0, `statuses: ${statuses.join(' ')}`);
    assert.deepEqual(new Set(statuses.slice(0, served)), new Set([200]), `statuses: ${statuses.join(' ')}`);
    assert.deepEqual(new Set(statuses.slice(served)), new Set([503]), `statuses: ${statuses.join(' ')}`);
    // The connections at the cap are still answered.
    assert.equal(await statusOf(held[0] as Socket), 200);
  } finally {
    for (const socket of held) socket.destroy();
    running.child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
});
