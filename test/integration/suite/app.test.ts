import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { api, cleanUp, folder, freePort, get, recordLog, serverOf, setSetting, waitFor } from './helpers';

/** The stand-in for the Python extension that the suite loads (fixtures/python-extension). */
interface PythonExtensionStandIn {
  selectInterpreter(path: string): void;
}

function pythonExtension(): PythonExtensionStandIn {
  const extension = vscode.extensions.getExtension<PythonExtensionStandIn>('ms-python.python');
  if (extension === undefined) throw new Error('The Python extension stand-in (test/integration/fixtures/python-extension) is not loaded');
  if (!extension.isActive) throw new Error('Tiny Server did not activate the Python extension to ask for its interpreter');
  return extension.exports;
}

/**
 * Two "virtual environments": folders with a `bin/python` link to the python3 on the PATH, as
 * `python3 -m venv` makes them. sys.executable names the link, so the app says which ran it.
 */
function makeEnvironments(): { readonly a: string; readonly b: string; readonly dir: string } {
  let python: string;
  try {
    python = execFileSync('python3', ['-c', 'import os, sys; print(os.path.realpath(sys.executable))'], { encoding: 'utf8' }).trim();
  } catch (error) {
    throw new Error(`These tests run a WSGI app and need python3 on the PATH: ${String(error)}`, { cause: error });
  }
  const dir = mkdtempSync(join(tmpdir(), 'tiny-server-venvs-'));
  const make = (name: string): string => {
    mkdirSync(join(dir, name, 'bin'), { recursive: true });
    symlinkSync(python, join(dir, name, 'bin', 'python'));
    return join(dir, name, 'bin', 'python');
  };
  return { a: make('env-a'), b: make('env-b'), dir };
}

suite('WSGI app', () => {
  let environments: ReturnType<typeof makeEnvironments>;
  suiteSetup(() => {
    environments = makeEnvironments();
  });
  suiteTeardown(() => rmSync(environments.dir, { recursive: true, force: true }));
  teardown(async () => {
    await cleanUp();
    vscode.extensions.getExtension<PythonExtensionStandIn>('ms-python.python')?.exports?.selectInterpreter('');
  });

  test('the app runs on the Python extension interpreter, follows its selection, and tinyServer.python wins', async () => {
    const second = folder('second');
    const tiny = await api();
    const log = recordLog(tiny);
    try {
      const port = await freePort();
      await setSetting(second, 'port', port);
      await setSetting(second, 'appDir', 'backend');
      await setSetting(second, 'app', 'hello_app:app');
      // Activating the extension is Tiny Server's job; the stand-in is only told what a user picked.
      const standIn = vscode.extensions.getExtension('ms-python.python');
      if (standIn?.isActive !== true) await standIn?.activate();
      pythonExtension().selectInterpreter(environments.a);

      const started = await tiny.start(second.uri);
      assert.ok(started.ok, started.ok ? '' : started.message);
      const url = `http://127.0.0.1:${port}/hello`;
      assert.equal((await get(url)).text, `hello from ${environments.a}`);
      // The status bar's tooltip says this sentence under the server's address.
      assert.match(serverOf(tiny, second.uri)?.app ?? '', /^hello_app:app started at .+ in \d+ ms$/);
      assert.ok(
        log.lines.some((line) => line.includes(`The app hello_app:app runs on ${environments.a} (the interpreter selected in the Python extension)`)),
        `the log says which interpreter runs the app:\n${log.lines.join('\n')}`,
      );
      assert.ok(log.lines.some((line) => /app: hello_app:app started in \d+ ms \(pid \d+, Python 3\./.test(line)), 'the log says how long the start took');

      // "Python: Select Interpreter" picks another one: the app restarts on it.
      pythonExtension().selectInterpreter(environments.b);
      await waitFor('the app to run on the newly selected interpreter', () => log.lines.some((line) => line.includes(`runs on ${environments.b}`)), 15_000);
      assert.equal((await get(url)).text, `hello from ${environments.b}`);

      // A tinyServer.python the user set is used as it is.
      await setSetting(second, 'python', environments.a);
      await waitFor('the app to run on tinyServer.python', () => log.lines.some((line) => line.includes(`runs on ${environments.a} (tinyServer.python)`)), 15_000);
      assert.equal((await get(url)).text, `hello from ${environments.a}`);
    } finally {
      log.dispose();
    }
  });

  test('a Fetch-standard JavaScript app runs in a child process on the extension host\'s own runtime', async () => {
    const second = folder('second');
    const tiny = await api();
    const port = await freePort();
    await setSetting(second, 'port', port);
    await setSetting(second, 'appDir', 'backend');
    await setSetting(second, 'app', 'hello.mjs');
    const started = await tiny.start(second.uri);
    assert.ok(started.ok, started.ok ? '' : started.message);
    const answer = await get(`http://127.0.0.1:${port}/users/42`);
    // The app's process reports the runtime the extension host runs on: the same Node version.
    assert.equal(answer.text.startsWith(`hello from Node ${process.versions.node}`), true, answer.text);
    assert.match(answer.text, / at \/users\/42$/);
    assert.match(serverOf(tiny, second.uri)?.app ?? '', /^hello\.mjs started at .+ in \d+ ms$/);
  });
});
