import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { test } from 'node:test';
import { BRIDGE_PATH } from '../../src/server/app';
import { BridgeProcess, type ExchangeSink } from '../../src/server/app/bridge-process';
import { FRAME, FrameDecoder, WINDOW, encodeFrame, encodeJsonFrame, type Frame } from '../../src/server/app/frames';
import { splitResponse } from '../../src/server/app/heads';
import { folderWith, PYTHON, requirePython } from './helpers/app';
import { waitFor } from './helpers/server';

const ECHO = String.raw`
import time
def app(environ, start_response):
    if environ['PATH_INFO'] == '/sleep':
        time.sleep(5)
    body = environ['wsgi.input'].read()
    start_response('201 Created', [('Content-Type', 'text/plain')])
    return [(environ['SCRIPT_NAME'] + environ['PATH_INFO']).encode('latin-1'), b' ', body]
`;

/** The bridge on its own, driven frame by frame as the server drives it. */
function startBridge(dir: string): { input: Writable; frames: Frame[]; stderr: () => string; exited: Promise<number | null>; kill: () => void } {
  const child = spawn(PYTHON, ['-B', BRIDGE_PATH, '--app', 'echo:app', '--app-dir', dir, '--threads', '2'], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
  const frames: Frame[] = [];
  const decoder = new FrameDecoder((frame) => frames.push({ ...frame, payload: Buffer.from(frame.payload) }));
  (child.stdio[4] as Readable).on('data', (chunk: Buffer) => assert.equal(decoder.push(chunk), undefined));
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const input = child.stdio[3] as Writable;
  input.on('error', () => undefined);
  return { input, frames, stderr: () => stderr, exited: new Promise((done) => child.once('exit', (code) => done(code))), kill: () => child.kill('SIGKILL') };
}

/** A REQUEST head (see frames.ts): POST /caf%C3%A9 without fields, unless `head` says otherwise. */
function requestHead(head: { method?: string; path?: string; scriptName?: string } = {}): Array<string | number> {
  return [head.method ?? 'POST', head.path ?? '/caf%C3%A9', '', 'HTTP/1.1', '127.0.0.1', 1, head.scriptName ?? '', '127.0.0.1', 80];
}

const HEAD = requestHead();

/** Runs `run` with a ready bridge of the echo app, then kills it. */
async function withEchoBridge(run: (bridge: ReturnType<typeof startBridge>) => Promise<void>): Promise<void> {
  requirePython();
  const folder = folderWith({ 'echo.py': ECHO });
  const bridge = startBridge(folder.dir);
  try {
    await waitFor(() => bridge.frames.some((f) => f.type === FRAME.ready), 15_000, 'READY');
    await run(bridge);
  } finally {
    bridge.kill();
    folder.remove();
  }
}

test('the bridge reassembles frames sent one byte at a time and answers a whole body in one RESPONSE frame; a REQUEST_ALONE has no body', async () => {
  await withEchoBridge(async (bridge) => {
    const bytes = Buffer.concat([encodeJsonFrame(FRAME.request, 9, HEAD), encodeFrame(FRAME.body, 9, Buffer.from('split body')), encodeFrame(FRAME.end, 9)]);
    for (const byte of bytes) {
      bridge.input.write(Buffer.from([byte]));
      await new Promise((r) => setImmediate(r));
    }
    await waitFor(() => bridge.frames.some((f) => f.type === FRAME.response && f.id === 9), 5000, 'RESPONSE');
    const parts = splitResponse(bridge.frames.find((f) => f.type === FRAME.response)?.payload ?? Buffer.alloc(0));
    assert.deepEqual(JSON.parse(parts?.head ?? ''), ['201 Created', 'Content-Type', 'text/plain']);
    assert.equal(parts?.body.toString('latin1'), '/caf\u00c3\u00a9 split body');
    // No END follows a REQUEST_ALONE: the app reads an empty body at once.
    bridge.input.write(encodeJsonFrame(FRAME.requestAlone, 10, requestHead({ method: 'GET', path: '/alone' })));
    await waitFor(() => bridge.frames.some((f) => f.type === FRAME.response && f.id === 10), 5000, 'RESPONSE to REQUEST_ALONE');
    const alone = splitResponse(bridge.frames.find((f) => f.type === FRAME.response && f.id === 10)?.payload ?? Buffer.alloc(0));
    assert.equal(alone?.body.toString('latin1'), '/alone ');
  });
});

test('raw bytes above 0x7F in the path and the mount, sent as latin-1 text, reach SCRIPT_NAME and PATH_INFO as the same bytes, not their UTF-8', async () => {
  await withEchoBridge(async (bridge) => {
    // The request line's bytes as the parser keeps them: one byte, one latin-1 character.
    bridge.input.write(encodeJsonFrame(FRAME.requestAlone, 1, requestHead({ method: 'GET', scriptName: '/\u00e9t\u00e9', path: '/caf\u00e9%20x\u00ff' })));
    await waitFor(() => bridge.frames.some((f) => f.type === FRAME.response && f.id === 1), 5000, 'RESPONSE');
    const parts = splitResponse(bridge.frames.find((f) => f.type === FRAME.response && f.id === 1)?.payload ?? Buffer.alloc(0));
    assert.equal(parts?.body.toString('latin1'), '/\u00e9t\u00e9/caf\u00e9 x\u00ff ');
  });
});

test('the bridge exits with a message on an unknown frame type and on a body beyond the window it granted', async () => {
  requirePython();
  const folder = folderWith({ 'echo.py': ECHO });
  try {
    const unknown = startBridge(folder.dir);
    await waitFor(() => unknown.frames.some((f) => f.type === FRAME.ready), 15_000, 'READY');
    unknown.input.write(Buffer.from([0, 0, 0, 0, 0x7e, 0, 0, 0, 1]));
    assert.equal(await unknown.exited, 4);
    assert.match(unknown.stderr(), /Frame type 0x7e is unknown/);
    const greedy = startBridge(folder.dir);
    await waitFor(() => greedy.frames.some((f) => f.type === FRAME.ready), 15_000, 'READY');
    // The app sleeps before reading, so nothing is granted beyond the first window.
    greedy.input.write(encodeJsonFrame(FRAME.request, 1, requestHead({ path: '/sleep' })));
    for (let sent = 0; sent <= WINDOW; sent += 64 * 1024) greedy.input.write(encodeFrame(FRAME.body, 1, Buffer.alloc(64 * 1024)));
    assert.equal(await greedy.exited, 4);
    assert.match(greedy.stderr(), /more request body than the window allows/);
  } finally {
    folder.remove();
  }
});

/**
 * A stand-in bridge: READY, then for each request it reads, the frame `answer` names (as hex),
 * written with the request's id. It checks the server's side of the protocol, not an app.
 */
const FAKE_BRIDGE = String.raw`
const fs = require('node:fs');
const frame = (type, id, payload) => {
  const bytes = Buffer.alloc(9 + payload.length);
  bytes.writeUInt32BE(payload.length, 0);
  bytes[4] = type;
  bytes.writeUInt32BE(id, 5);
  payload.copy(bytes, 9);
  return bytes;
};
const answer = Buffer.from(process.argv[1], 'hex');
fs.writeSync(4, frame(0x17, 0, Buffer.from(JSON.stringify({ pid: process.pid, runtime: 'fake' }))));
fs.createReadStream('', { fd: 3 }).on('data', (chunk) => {
  const id = chunk.readUInt32BE(5);
  fs.writeSync(4, frame(answer[0], id, answer.subarray(1)));
});
`;

function fakeBridge(type: number, payload: Buffer): BridgeProcess {
  const answer = Buffer.concat([Buffer.from([type]), payload]).toString('hex');
  return new BridgeProcess({ command: process.execPath, args: ['-e', FAKE_BRIDGE, answer], env: {}, cwd: process.cwd(), missingHint: '', log: () => undefined });
}

function recordingSink(): { sink: ExchangeSink; calls: string[] } {
  const calls: string[] = [];
  const sink: ExchangeSink = {
    onStart: (head) => calls.push(`start ${head[0] ?? ''}`),
    onBody: (chunk) => calls.push(`body ${chunk.toString()}`),
    onEnd: () => calls.push('end'),
    onResponse: (head, body) => calls.push(`response ${JSON.stringify(head)} ${body.toString()}`),
    onError: (message) => calls.push(`error ${message}`),
    onGrant: () => undefined,
    onGone: (reason) => calls.push(`gone ${reason}`),
  };
  return { sink, calls };
}

test('the server takes a RESPONSE frame as START, body and END at once, and stops a bridge whose RESPONSE is malformed', async () => {
  const head = Buffer.from(JSON.stringify(['200 OK', 'content-type', 'text/plain']));
  const length = Buffer.alloc(4);
  length.writeUInt32BE(head.length);
  const good = fakeBridge(FRAME.response, Buffer.concat([length, head, Buffer.from('whole body')]));
  const bad = fakeBridge(FRAME.response, Buffer.from([0, 0, 0, 99, 0x7b, 0x7d]));
  try {
    for (const bridge of [good, bad]) {
      assert.equal((await bridge.started).ok, true);
    }
    const answered = recordingSink();
    const id = good.open(answered.sink);
    good.send(encodeJsonFrame(FRAME.requestAlone, id, HEAD));
    await waitFor(() => answered.calls.length > 0, 5000, 'the RESPONSE');
    assert.deepEqual(answered.calls, ['response ["200 OK","content-type","text/plain"] whole body']);
    assert.equal(good.inFlight, 0, 'the request is forgotten once answered');
    const refused = recordingSink();
    bad.send(encodeJsonFrame(FRAME.requestAlone, bad.open(refused.sink), HEAD));
    await bad.exited;
    assert.deepEqual(refused.calls, ['gone the bridge sent a malformed RESPONSE frame']);
  } finally {
    await Promise.all([good.stop(), bad.stop()]);
  }
});

test('a bridge whose program cannot be run says why, and has exited at once, so a stop does not wait for it', async () => {
  const bridge = new BridgeProcess({ command: '/nonexistent/tiny-server-python', args: [], env: {}, cwd: process.cwd(), missingHint: 'set the Python interpreter to use', log: () => undefined });
  const outcome = await bridge.started;
  assert.equal(outcome.ok, false);
  assert.match(outcome.ok ? '' : outcome.message, /no such program \(set the Python interpreter to use\)/);
  const settled = await Promise.race([bridge.exited.then(() => 'exited'), new Promise((resolve) => setTimeout(() => resolve('still waiting'), 2000))]);
  assert.equal(settled, 'exited');
  await bridge.stop();
});
