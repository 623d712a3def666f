import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { test } from 'node:test';
import { BRIDGE_PATH } from '../../src/server/app';
import { FRAME, FrameDecoder, WINDOW, encodeFrame, encodeJsonFrame, type Frame } from '../../src/server/app/frames';
import { folderWith, PYTHON, requirePython } from './helpers/app';
import { waitFor } from './helpers/server';

const ECHO = String.raw`
import time
def app(environ, start_response):
    if environ['PATH_INFO'] == '/sleep':
        time.sleep(5)
    body = environ['wsgi.input'].read()
    start_response('201 Created', [('Content-Type', 'text/plain')])
    return [environ['PATH_INFO'].encode('latin-1'), b' ', body]
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

const HEAD = { method: 'POST', scriptName: '', path: '/caf%C3%A9', query: '', protocol: 'HTTP/1.1', headers: [], remoteAddress: '127.0.0.1', remotePort: 1, serverName: '127.0.0.1', serverPort: 80 };

test('the bridge reassembles frames sent one byte at a time and answers with START, BODY and END', async () => {
  requirePython();
  const folder = folderWith({ 'echo.py': ECHO });
  const bridge = startBridge(folder.dir);
  try {
    await waitFor(() => bridge.frames.some((f) => f.type === FRAME.ready), 15_000, 'READY');
    const bytes = Buffer.concat([encodeJsonFrame(FRAME.request, 9, HEAD), encodeFrame(FRAME.body, 9, Buffer.from('split body')), encodeFrame(FRAME.end, 9)]);
    for (const byte of bytes) {
      bridge.input.write(Buffer.from([byte]));
      await new Promise((r) => setImmediate(r));
    }
    await waitFor(() => bridge.frames.some((f) => f.type === FRAME.responseEnd && f.id === 9), 5000, 'END');
    const start = bridge.frames.find((f) => f.type === FRAME.start);
    assert.deepEqual(JSON.parse(start?.payload.toString() ?? ''), { status: '201 Created', headers: [['Content-Type', 'text/plain']] });
    const body = Buffer.concat(bridge.frames.filter((f) => f.type === FRAME.responseBody).map((f) => f.payload));
    assert.equal(body.toString('latin1'), '/caf\u00c3\u00a9 split body');
  } finally {
    bridge.kill();
    folder.remove();
  }
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
    greedy.input.write(encodeJsonFrame(FRAME.request, 1, { ...HEAD, path: '/sleep' }));
    for (let sent = 0; sent <= WINDOW; sent += 64 * 1024) greedy.input.write(encodeFrame(FRAME.body, 1, Buffer.alloc(64 * 1024)));
    assert.equal(await greedy.exited, 4);
    assert.match(greedy.stderr(), /more request body than the window allows/);
  } finally {
    folder.remove();
  }
});
