/**
 * Tiny Server's integration suite, run inside a real VS Code extension host.
 *
 * Workspace: open `test/integration/fixtures/workspace.code-workspace`, a multi-root workspace
 * with the folders `site` and `second` (each has `.vscode/settings.json` with
 * `"tinyServer.openOnStart": "none"`, so starting a server opens no browser). The multi-root
 * tests fail, on purpose, when only one folder is open.
 *
 * Load the extension from the repository root (`extensionDevelopmentPath`) after
 * `node esbuild.mjs` (dist/extension.js) and `node esbuild.mjs --tests`, and point
 * `extensionTestsPath` at `out/test/integration/suite/index.js`. `npm run test:integration`
 * does all of that (test/integration/run-server.mjs or run-electron.mjs).
 *
 * The tests write `tinyServer.*` settings into the fixture folders while they run and put
 * every fixture settings file back byte for byte at the end (see helpers.ts).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { cleanUp, snapshotFixtureSettings } from './helpers';

export async function run(): Promise<void> {
  // Mocha 12 is an ES module; a dynamic import loads it in every Node the extension host has.
  const { default: Mocha } = await import('mocha');
  const mocha = new Mocha({ ui: 'tdd', color: false, timeout: 20_000, slow: 2_000 });
  for (const file of readdirSync(__dirname).filter((name) => name.endsWith('.test.js')).sort()) {
    mocha.addFile(join(__dirname, file));
  }
  await mocha.loadFilesAsync();
  const restoreFixtures = snapshotFixtureSettings();
  let failures: number;
  try {
    failures = await new Promise<number>((resolve) => mocha.run(resolve));
  } finally {
    await cleanUp().catch((error: unknown) => console.error('Cleaning up after the suite failed', error));
    restoreFixtures();
  }
  if (failures > 0) throw new Error(`${failures} integration test${failures === 1 ? '' : 's'} failed`);
}
