// Runs the extension's integration suite in desktop VS Code through @vscode/test-electron, the
// standard runner: it downloads a VS Code build into .vscode-test/ (or uses the one named by
// VSCODE_EXECUTABLE_PATH), starts it with the extension under development and runs the suite
// in its extension host. Machines that reach only the npm registry cannot download VS Code;
// run-server.mjs runs the same suite in the VS Code server build there.
//
// Usage: node test/integration/run-electron.mjs [--workspace <folder or .code-workspace>] [--suite <index.js>]
//   VSCODE_EXECUTABLE_PATH  a VS Code (or Insiders) executable to use instead of downloading
//   VSCODE_TEST_VERSION     the version to download (default: newest stable that fits engines.vscode)
// On Linux without a display, run it under xvfb-run.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runTests, TestRunFailedError } from '@vscode/test-electron';
import { ProvisionError, REPO_ROOT } from './provision.mjs';
import { SUITE_PATH, TEST_EXTENSIONS, USER_SETTINGS, option, resolveWorkspace } from './run-server.mjs';

/** A fresh user-data dir with the same quiet settings the server runner uses. */
function userDataDir() {
  const dir = mkdtempSync(join(tmpdir(), 'tiny-server-electron-'));
  mkdirSync(join(dir, 'User'), { recursive: true });
  writeFileSync(join(dir, 'User', 'settings.json'), JSON.stringify(USER_SETTINGS, null, 2));
  return dir;
}

/** Explains a failure to download or start VS Code; a failing suite needs no explanation. */
function explain(error, executable) {
  if (error instanceof TestRunFailedError) return `Integration suite failed: ${error.message}`;
  const message = error instanceof Error ? error.message : String(error);
  if (executable) return `Starting VS Code from VSCODE_EXECUTABLE_PATH=${executable} failed: ${message}`;
  return [
    `Downloading VS Code failed: ${message}`,
    '@vscode/test-electron needs https://update.code.visualstudio.com (or a VS Code named by VSCODE_EXECUTABLE_PATH).',
    'Without it, run the same suite in the VS Code server build: npm run test:integration',
  ].join('\n');
}

async function main() {
  const argv = process.argv.slice(2);
  const executable = process.env.VSCODE_EXECUTABLE_PATH || undefined;
  let dataDir;
  try {
    const workspace = resolveWorkspace(argv);
    const suite = resolve(option(argv, '--suite') ?? SUITE_PATH);
    if (!existsSync(suite)) throw new ProvisionError(`Test suite not built: ${suite} is missing; run node esbuild.mjs --tests`);
    if (executable && !existsSync(executable)) throw new ProvisionError(`VSCODE_EXECUTABLE_PATH=${executable} does not exist`);
    dataDir = userDataDir();
    const code = await runTests({
      ...(executable ? { vscodeExecutablePath: executable } : {}),
      ...(process.env.VSCODE_TEST_VERSION ? { version: process.env.VSCODE_TEST_VERSION } : {}),
      // @vscode/test-electron caches downloads in <cwd>/.vscode-test, next to the server build.
      cachePath: join(REPO_ROOT, '.vscode-test'),
      extensionDevelopmentPath: [REPO_ROOT, ...TEST_EXTENSIONS],
      extensionTestsPath: suite,
      launchArgs: [workspace, '--disable-extensions', `--user-data-dir=${dataDir}`],
    });
    console.log(code === 0 ? 'Integration suite passed in desktop VS Code' : `Integration suite failed with exit code ${code}`);
    process.exitCode = code === 0 ? 0 : 1;
  } catch (error) {
    console.error(error instanceof ProvisionError ? error.message : explain(error, executable));
    process.exitCode = 1;
  } finally {
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
