// Runs the extension's integration suite in a real VS Code without a desktop build: the VS Code
// server inside code-server (provisioned into .vscode-test/ by provision.mjs), with its web
// workbench opened in headless Chromium through playwright-core. The suite runs in the Node
// extension host exactly as under @vscode/test-electron; the workbench reports the result
// through window.codeAutomationExit. Facts this relies on: /work/shared/VSCODE_HOST.md.
//
// Usage: node test/integration/run-server.mjs [--workspace <folder or .code-workspace>] [--suite <index.js>]
//        node test/integration/run-server.mjs --serve [--workspace <folder>]   (try it by hand)
//   TINY_SERVER_TEST_WORKSPACE  workspace to open (default: the suite's fixture workspace)
//   TINY_SERVER_TEST_TIMEOUT    overall limit in seconds (default 600)
//
// The helpers below are also used by the UI test in test/e2e/.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { provision, ProvisionError, REPO_ROOT } from './provision.mjs';

export const SUITE_PATH = join(REPO_ROOT, 'out', 'test', 'integration', 'suite', 'index.js');
const FIXTURES = join(REPO_ROOT, 'test', 'integration', 'fixtures');
/**
 * Extensions loaded beside Tiny Server for the suite: a stand-in for the Python extension
 * (ms-python.python) with the part of its public API Tiny Server reads, since the real one
 * comes from the Marketplace, which test machines may not reach.
 */
export const TEST_EXTENSIONS = [join(FIXTURES, 'python-extension')];
/** Where the suite's workspace is looked for, first match wins. */
const DEFAULT_WORKSPACES = [join(FIXTURES, 'workspace.code-workspace'), join(FIXTURES, 'site')];
const LISTENING = /HTTP server listening on (http:\/\/127\.0\.0\.1:(\d+)\/)/;
/** Set on Ctrl+C, so the error of the run it cut short is not reported as a failure. */
let interrupted = false;

/** User settings that keep the workbench quiet and offline, for every run. */
export const USER_SETTINGS = {
  // VS Code for the Web (code-server included) saves after a delay by default; desktop VS Code
  // does not, and the tests of unsaved edits need them to stay unsaved.
  'files.autoSave': 'off',
  'security.workspace.trust.enabled': false,
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'workbench.enableExperiments': false,
  'chat.disableAIFeatures': true,
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'git.enabled': false,
};

/** Chromium flags shared with the unit tests' browser (test/chromium.json). */
export const CHROMIUM_ARGS = JSON.parse(readFileSync(new URL('../chromium.json', import.meta.url), 'utf8')).args;

/**
 * Starts code-server on a free loopback port with a throwaway user-data dir.
 * @param {{ nodeBin: string, codeServerDir: string }} build from provision()
 * @param {{ logFile: string, settings?: object, timeoutMs?: number }} options
 * @returns {Promise<{ port: number, origin: string, died: Promise<never>, dispose: () => Promise<void> }>}
 *   `died` rejects if the server exits before `dispose()`.
 */
export async function startCodeServer(build, { logFile, settings = {}, extensions = [], timeoutMs = 60_000 }) {
  const dir = mkdtempSync(join(tmpdir(), 'tiny-server-vscode-'));
  const args = [join(build.codeServerDir, 'out', 'node', 'entry.js'), ...serverArgs(dir, settings)];
  // Installed as a user would have them: copied into the extensions folder the server scans.
  for (const extension of extensions) {
    const { publisher, name, version } = JSON.parse(readFileSync(join(extension, 'package.json'), 'utf8'));
    cpSync(extension, join(dir, 'extensions', `${publisher}.${name}-${version}`), { recursive: true });
  }
  const log = createWriteStream(logFile);
  // Detached: the server spawns an extension host, a pty host and a file watcher; killing the
  // whole process group on exit leaves none of them behind.
  const child = spawn(build.nodeBin, args, { cwd: dir, env: serverEnv(dir), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  // Last resort if the runner exits without disposing (an uncaught error, process.exit).
  const killOnExit = () => killGroup(child.pid, 'SIGKILL');
  process.on('exit', killOnExit);
  let disposing = false;
  const died = new Promise((_, reject) => {
    child.once('exit', (code, signal) => {
      if (!disposing) reject(new Error(`code-server exited unexpectedly with ${code ?? signal}; see ${logFile}`));
    });
  });
  died.catch(() => {}); // Observed by whoever races it; never an unhandled rejection.
  const dispose = async () => {
    disposing = true;
    process.off('exit', killOnExit);
    await stopGroup(child);
    log.end();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const origin = await waitForListening(child, timeoutMs, logFile);
    return { port: Number(new URL(origin).port), origin: origin.replace(/\/$/, ''), died, dispose };
  } catch (error) {
    await dispose();
    throw error;
  }
}

/** Writes the user settings and config into `dir`; returns code-server's arguments. */
function serverArgs(dir, settings) {
  const userDataDir = join(dir, 'user-data');
  mkdirSync(join(userDataDir, 'User'), { recursive: true });
  writeFileSync(join(userDataDir, 'User', 'settings.json'), JSON.stringify({ ...USER_SETTINGS, ...settings }, null, 2));
  writeFileSync(join(dir, 'config.yaml'), 'auth: none\n');
  return [
    '--auth', 'none',
    // Port 0: the OS picks a free port and code-server prints it, so there is no race.
    '--bind-addr', '127.0.0.1:0',
    '--user-data-dir', userDataDir,
    '--extensions-dir', join(dir, 'extensions'),
    '--config', join(dir, 'config.yaml'),
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    // A built VS Code ignores the `payload` query parameter without the smoke-test driver.
    '--vscode-option', 'enable-smoke-test-driver',
  ];
}

/** SIGTERM to the server's process group, SIGKILL after 5 s, and SIGKILL to any child left. */
async function stopGroup(child) {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    killGroup(child.pid, 'SIGTERM');
    const timer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
  killGroup(child.pid, 'SIGKILL');
}

/** The child's environment, without variables that would make code-server act as a CLI client. */
function serverEnv(dir) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    // VSCODE_IPC_HOOK_CLI (set in VS Code terminals) makes code-server open the folder in that
    // other instance instead of serving; PASSWORD would switch authentication on.
    if (/^(VSCODE_|ELECTRON_|CODE_SERVER_)/.test(key) || key === 'PASSWORD' || key === 'HASHED_PASSWORD') continue;
    env[key] = value;
  }
  // code-server keeps state under XDG folders; keep it inside the throwaway dir.
  env.XDG_DATA_HOME = join(dir, 'data');
  env.XDG_CONFIG_HOME = join(dir, 'config');
  env.XDG_CACHE_HOME = join(dir, 'cache');
  return env;
}

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

function waitForListening(child, timeoutMs, logFile) {
  return new Promise((resolvePromise, reject) => {
    let seen = '';
    const timer = setTimeout(() => finish(new Error(`code-server did not print "HTTP server listening" within ${timeoutMs / 1000} s; see ${logFile}`)), timeoutMs);
    const onData = (chunk) => {
      seen = (seen + chunk).slice(-4096);
      const match = LISTENING.exec(seen);
      if (match) finish(null, match[1]);
    };
    const onExit = (code, signal) => finish(new Error(`code-server exited with ${code ?? signal} before listening; see ${logFile}`));
    function finish(error, origin) {
      clearTimeout(timer);
      child.stdout.off('data', onData);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolvePromise(origin);
    }
    child.stdout.on('data', onData);
    child.on('exit', onExit);
  });
}

/**
 * The workbench address that opens `workspace` (a folder, or a `.code-workspace` file for a
 * multi-root workspace) with the extension under development loaded and, given `testsPath`,
 * the suite run in its extension host.
 */
export function workbenchUrl(origin, { workspace, testsPath }) {
  const remote = (path) => `vscode-remote://${new URL(origin).host}${path}`;
  const payload = [['extensionDevelopmentPath', remote(REPO_ROOT)], ['skipWelcome', 'true']];
  if (testsPath) payload.push(['extensionTestsPath', remote(testsPath)]);
  const kind = workspace.endsWith('.code-workspace') ? 'workspace' : 'folder';
  return `${origin}/?${kind}=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
}

/** Launches headless Chromium with a fresh profile (Playwright gives each launch its own). */
export function launchChromium(executablePath) {
  // Playwright's own signal handlers would exit the process before the runner stops code-server.
  return chromium.launch({
    executablePath,
    headless: true,
    args: CHROMIUM_ARGS,
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
  });
}

/** A promise that rejects with `message` after `ms`, unless cancelled first. */
export function timeout(ms, message) {
  let timer;
  const promise = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

/** The value after `--name` in argv, if any. */
export function option(argv, name) {
  const index = argv.indexOf(name);
  return index >= 0 ? argv[index + 1] : undefined;
}

/** The workspace the suite opens: --workspace, TINY_SERVER_TEST_WORKSPACE, or the suite's fixture. */
export function resolveWorkspace(argv) {
  const given = option(argv, '--workspace') ?? process.env.TINY_SERVER_TEST_WORKSPACE;
  if (given) return resolve(given);
  const found = DEFAULT_WORKSPACES.find((path) => existsSync(path));
  if (!found) throw new ProvisionError(`No test workspace: none of ${DEFAULT_WORKSPACES.join(', ')} exists; pass --workspace`);
  return found;
}

/**
 * Writes a test entry point that runs `suite` with mocha's reporter lines formatted before they
 * are logged; returns its path and a function that removes it. This host hands the extension
 * host's console to codeAutomationLog with printf arguments joined by spaces, not applied, so
 * the spec reporter's `console.log('  %d passing (%s)', 18, '23s')` would arrive as
 * "  %d passing (%s) 18 23s". The suite resolves `mocha` from the repository, so importing the
 * same file here patches the instance it uses. A suite without mocha runs unchanged.
 */
function formattingEntry(suite) {
  const dir = mkdtempSync(join(tmpdir(), 'tiny-server-suite-'));
  let mocha = null;
  try {
    mocha = pathToFileURL(createRequire(suite).resolve('mocha')).href;
  } catch {
    // No mocha next to the suite: nothing to format.
  }
  writeFileSync(
    join(dir, 'index.js'),
    `// Written by test/integration/run-server.mjs for one run.
const { format } = require('node:util');
exports.run = async function run() {
  const mocha = ${JSON.stringify(mocha)};
  if (mocha) {
    const { default: Mocha } = await import(mocha);
    Mocha.reporters.Base.consoleLog = (...args) => console.log(format(...args));
  }
  return require(${JSON.stringify(suite)}).run();
};
`,
  );
  return { entry: join(dir, 'index.js'), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs the suite once; resolves with the exit code the extension host reported. */
async function runSuite({ workspace, suite, timeoutMs }) {
  if (!existsSync(suite)) {
    throw new ProvisionError(`Test suite not built: ${suite} is missing; run node esbuild.mjs --tests`);
  }
  const build = await provision();
  const resultsDir = join(REPO_ROOT, 'test-results');
  mkdirSync(resultsDir, { recursive: true });
  const logFile = join(resultsDir, 'integration-code-server.log');
  const hostLog = hostLogPrinter(join(resultsDir, 'integration-workbench.log'));
  const { entry, remove } = formattingEntry(suite);
  const cleanups = [remove, hostLog.close];
  const cleanup = async () => {
    // Each step runs even if an earlier one failed; sync and async steps alike.
    while (cleanups.length > 0) await Promise.resolve().then(cleanups.pop()).catch(() => {});
  };
  const onSignal = (signal) => {
    if (interrupted) return; // Ctrl+C can arrive twice: from the terminal and from npm test.
    interrupted = true;
    console.error(`Interrupted by ${signal}; stopping code-server and Chromium`);
    cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const limit = timeout(timeoutMs, `The integration suite did not finish within ${timeoutMs / 1000} s`);
  try {
    const server = await startCodeServer(build, { logFile, extensions: TEST_EXTENSIONS });
    cleanups.push(server.dispose);
    console.log(`VS Code server listening at ${server.origin} (log: ${logFile})`);
    const browser = await launchChromium(build.chromium);
    cleanups.push(() => browser.close());
    const page = await browser.newPage();
    let reportExit;
    const exited = new Promise((resolveExit) => (reportExit = resolveExit));
    // Both must exist before the workbench loads: it looks for them once, at start.
    await page.exposeFunction('codeAutomationLog', hostLog.print);
    await page.exposeFunction('codeAutomationExit', (code, logs) => {
      writeHostLogs(resultsDir, logs);
      reportExit(code);
    });
    page.on('pageerror', (error) => console.error(`[workbench] ${error.message}`));
    await page.goto(workbenchUrl(server.origin, { workspace, testsPath: entry }));
    return await Promise.race([exited, limit.promise, server.died]);
  } finally {
    limit.cancel();
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/**
 * The workbench's own chatter that reaches codeAutomationLog along with the extension host's
 * console. Both arrive through the same log service without a tag, so the runner drops these
 * known lines (they are expected on an offline machine) and keeps everything else.
 */
const WORKBENCH_NOISE = [
  /^Resolv(ing|ed) connection token/,
  /^Creating a socket/,
  /^\[(reconnection-grace-time|Service Worker|AgentHost|AccountPolicyGate)\b/,
  /^Updating additional builtin extensions cache/,
  /^getaddrinfo (ENOTFOUND|EAI_AGAIN) (?!localhost)/, // gallery and telemetry hosts, offline
  /^Timed out waiting for authentication provider/,
  /^No search provider registered for scheme/,
  /^Creation of workbench contribution '[^']+' took \d+ms/,
];

/**
 * Returns a codeAutomationLog handler: every line goes to `logFile`, and all but the known
 * workbench noise to the console, so the mocha reporter's lines read as in a terminal.
 */
export function hostLogPrinter(logFile) {
  const all = createWriteStream(logFile);
  const print = (type, args) => {
    const text = Array.isArray(args) ? args.join(' ') : String(args);
    all.write(`[${type}] ${text}\n`);
    if (WORKBENCH_NOISE.some((pattern) => pattern.test(text))) return;
    if (type === 'error' || type === 'warn') process.stderr.write(`${text}\n`);
    else process.stdout.write(`${text}\n`);
  };
  return { print, close: () => new Promise((r) => all.end(r)) };
}

/** Keeps the workbench's own logs of the run for post-mortems. */
function writeHostLogs(resultsDir, logs) {
  if (!Array.isArray(logs)) return;
  const dir = join(resultsDir, 'vscode-logs');
  for (const { relativePath, contents } of logs) {
    const file = resolve(dir, relativePath);
    if (!file.startsWith(dir)) continue;
    mkdirSync(resolve(file, '..'), { recursive: true });
    writeFileSync(file, contents);
  }
}

/**
 * Keeps a server with the extension loaded (no suite) running until Ctrl+C and prints the
 * address to open in a browser, for trying the extension by hand.
 */
async function serve(workspace) {
  const build = await provision();
  mkdirSync(join(REPO_ROOT, 'test-results'), { recursive: true });
  const logFile = join(REPO_ROOT, 'test-results', 'serve-code-server.log');
  const server = await startCodeServer(build, { logFile });
  console.log(`Open ${workbenchUrl(server.origin, { workspace })}`);
  console.log('Press Ctrl+C to stop');
  await new Promise((resolveStop) => {
    process.once('SIGINT', resolveStop);
    process.once('SIGTERM', resolveStop);
    server.died.catch(resolveStop);
  });
  await server.dispose();
}

async function main() {
  const started = Date.now();
  try {
    const argv = process.argv.slice(2);
    const workspace = resolveWorkspace(argv);
    if (argv.includes('--serve')) return await serve(workspace);
    const suite = resolve(option(argv, '--suite') ?? SUITE_PATH);
    const timeoutMs = Number(process.env.TINY_SERVER_TEST_TIMEOUT ?? 600) * 1000;
    const code = await runSuite({ workspace, suite, timeoutMs });
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(code === 0 ? `Integration suite passed in VS Code server (${seconds} s)` : `Integration suite failed with exit code ${code} (${seconds} s)`);
    process.exitCode = code === 0 ? 0 : 1;
  } catch (error) {
    if (interrupted) return;
    console.error(error instanceof ProvisionError ? error.message : error);
    process.exitCode = 1;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
