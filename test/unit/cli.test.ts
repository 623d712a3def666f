import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli, waitForLine } from './helpers/cli';
import { exchange, get, parseResponses } from './helpers/raw';

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
