// `npm test`: builds the extension and the tests, then runs every test stage in order:
//   build        node esbuild.mjs, then node esbuild.mjs --tests
//   unit         node --test --test-reporter=spec out/test/unit/ (and a TAP copy to a temp file,
//                from which the summary names the failed tests)
//   integration  the mocha suite inside a real VS Code: the VS Code server build in headless
//                Chromium (test/integration/run-server.mjs), or desktop VS Code through
//                @vscode/test-electron with --electron or TINY_SERVER_TEST_HOST=electron
//   e2e          the UI test that drives the workbench as a person does (test/e2e/run-ui.mjs)
// A failed build skips the rest (there is nothing to test); a failed test stage does not stop
// the later ones, so one run reports everything. Ctrl+C skips the stages not yet started. Ends with one line per stage
// (a failed unit stage followed by the names of its failed tests) and "N passed, N failed";
// exits 1 when any stage failed or was skipped.
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const electron = process.argv.includes('--electron') || process.env.TINY_SERVER_TEST_HOST === 'electron';
const node = process.execPath;

/** Where the unit stage's TAP copy goes: its `not ok` lines name the failed tests for the summary. */
const UNIT_TAP = join(tmpdir(), `tiny-server-unit-${process.pid}.tap`);

/**
 * Each stage is a list of commands run one after another; the first failure fails the stage.
 * `report` is a TAP file a stage writes besides its output, read for the names of failed tests.
 */
const STAGES = [
  { name: 'build', commands: [[node, 'esbuild.mjs'], [node, 'esbuild.mjs', '--tests']], required: true },
  {
    name: 'unit',
    commands: [[node, '--test', '--test-reporter=spec', '--test-reporter-destination=stdout', '--test-reporter=tap', `--test-reporter-destination=${UNIT_TAP}`, 'out/test/unit/']],
    report: UNIT_TAP,
  },
  {
    name: electron ? 'integration (desktop VS Code)' : 'integration (VS Code server)',
    commands: [[node, electron ? 'test/integration/run-electron.mjs' : 'test/integration/run-server.mjs']],
  },
  { name: 'e2e (workbench UI)', commands: [[node, 'test/e2e/run-ui.mjs']] },
];

let current;
let interrupted = false;
// Ctrl+C reaches the running stage too (same process group); a signal sent to this process
// alone is passed on, so the stage's runner can stop its VS Code before exiting.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    interrupted = true;
    current?.kill(signal);
  });
}

/** Runs one command with the terminal attached; resolves with its exit code and the signal that ended it, if one did. */
function run([command, ...args]) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, stdio: 'inherit' });
    current = child;
    child.on('error', (error) => {
      console.error(`Could not start ${command}: ${error.message}`);
      resolve({ code: 1 });
    });
    child.on('close', (code, signal) => {
      current = undefined;
      resolve({ code: code ?? 1, signal });
    });
  });
}

/** The failed tests a TAP file names (`not ok N - name`, subtests indented), at most 30; none when it is missing. */
function failedTests(tap) {
  let text;
  try {
    text = readFileSync(tap, 'utf8');
  } catch {
    return [];
  } finally {
    rmSync(tap, { force: true });
  }
  const names = [];
  for (const line of text.split('\n')) {
    // A todo test that fails is reported `not ok … # TODO` and does not fail the run.
    const match = /^(\s*)not ok \d+ - (.*)$/.exec(line);
    if (match === null || / # (TODO|SKIP)\b/i.test(match[2]) || names.length >= 30) continue;
    names.push(`${match[1]}✖ ${match[2].replace(/\\([\\#])/g, '$1')}`);
  }
  return names;
}

async function runStage(stage) {
  const started = Date.now();
  for (const command of stage.commands) {
    const shown = `node ${command.slice(1).join(' ')}`;
    console.log(`\n> ${shown}`);
    const { code, signal } = await run(command);
    const failures = stage.report === undefined ? [] : failedTests(stage.report);
    const ended = signal ? `was ended by ${signal}` : `exited with ${code}`;
    if (code !== 0 || interrupted) return { outcome: 'FAIL', seconds: (Date.now() - started) / 1000, detail: `${shown} ${ended}`, failures };
  }
  return { outcome: 'PASS', seconds: (Date.now() - started) / 1000 };
}

const results = [];
let skipRest = false;
for (const stage of STAGES) {
  if (skipRest || interrupted) {
    results.push({ name: stage.name, outcome: 'SKIP', detail: interrupted ? 'interrupted' : 'the build failed' });
    continue;
  }
  console.log(`\n=== ${stage.name} ===`);
  const result = { name: stage.name, ...(await runStage(stage)) };
  results.push(result);
  if (result.outcome === 'FAIL' && stage.required) skipRest = true;
}

console.log('\n=== summary ===');
for (const { name, outcome, seconds, detail, failures = [] } of results) {
  const time = seconds === undefined ? '' : ` (${seconds.toFixed(1)} s)`;
  console.log(`${outcome} ${name}${time}${detail ? ` - ${detail}` : ''}`);
  for (const line of failures) console.log(`    ${line}`);
}
const passed = results.filter((r) => r.outcome === 'PASS').length;
const failed = results.filter((r) => r.outcome === 'FAIL').length;
const skipped = results.filter((r) => r.outcome === 'SKIP').length;
console.log(`${passed} passed, ${failed} failed`);
if (skipped > 0) console.log(`${skipped} skipped`);
process.exitCode = failed > 0 || skipped > 0 ? 1 : 0;
