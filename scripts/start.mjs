// `npm start`: builds the extension and opens VS Code with it loaded on the sample site, the way
// F5 does in a desktop VS Code.
//
// - With a desktop `code` on PATH it runs `code --extensionDevelopmentPath=<repo> sample-site`.
// - Without one (a server or container) it starts the VS Code server build the integration tests
//   use (test/integration/provision.mjs, cached in .vscode-test/) with the extension under
//   development, prints the workbench address to open in a browser and runs until Ctrl+C.
//
// Usage: node scripts/start.mjs [--server] [folder]
//   --server  use the VS Code server even when `code` is on PATH
//   folder    the workspace to open (default: sample-site)
import { spawn, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const forceServer = args.includes('--server');
const workspace = resolve(args.find((a) => !a.startsWith('--')) ?? join(REPO, 'sample-site'));

function build() {
  const result = spawnSync(process.execPath, [join(REPO, 'esbuild.mjs')], { cwd: REPO, stdio: 'inherit' });
  if (result.status !== 0) throw new Error('Building the extension failed (node esbuild.mjs)');
}

/** True when a desktop VS Code CLI answers on PATH. */
function hasCodeCli() {
  const result = spawnSync('code', ['--version'], { stdio: 'ignore', timeout: 15_000, shell: process.platform === 'win32' });
  return result.status === 0;
}

function startDesktop() {
  console.log(`Opening ${workspace} in VS Code with the extension from ${REPO}`);
  const child = spawn('code', ['--new-window', `--extensionDevelopmentPath=${REPO}`, workspace], {
    stdio: 'inherit',
    shell: process.platform === 'win32',
  });
  child.on('exit', (code) => (process.exitCode = code ?? 0));
}

async function startServerWorkbench() {
  // The runner's helpers provision and start the server exactly as the integration tests do.
  const { provision } = await import('../test/integration/provision.mjs');
  const { startCodeServer, workbenchUrl } = await import('../test/integration/run-server.mjs');
  const buildPaths = await provision();
  const logFile = join(tmpdir(), `tiny-server-start-${process.pid}.log`);
  const server = await startCodeServer(buildPaths, { logFile });
  const stop = async (code) => {
    await server.dispose();
    process.exit(code);
  };
  process.once('SIGINT', () => void stop(0));
  process.once('SIGTERM', () => void stop(0));
  server.died.catch((error) => {
    console.error(error.message);
    process.exit(1);
  });
  console.log('\nVS Code (server build) is running with Tiny Server loaded. Open this address in a browser:\n');
  console.log(`  ${workbenchUrl(server.origin, { workspace })}\n`);
  console.log(`It listens on 127.0.0.1 only (use SSH port forwarding from another machine). Log: ${logFile}`);
  console.log('Press Ctrl+C to stop.');
}

try {
  build();
  if (!forceServer && hasCodeCli()) startDesktop();
  else await startServerWorkbench();
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
}
