// `npm test`: builds the extension and the tests, then runs every test stage in order:
//   build        node esbuild.mjs, then node esbuild.mjs --tests
//   unit         node --test --test-reporter=spec out/test/unit/
//   integration  the mocha suite inside a real VS Code: the VS Code server build in headless
//                Chromium (test/integration/run-server.mjs), or desktop VS Code through
//                @vscode/test-electron with --electron or TINY_SERVER_TEST_HOST=electron
//   e2e          the UI test that drives the workbench as a person does (test/e2e/run-ui.mjs)
// A failed build skips the rest (there is nothing to test); a failed test stage does not stop
// the later ones, so one run reports everything. Ctrl+C skips the stages not yet started. Ends with one line per stage
// (a failed stage followed by the lines that named its failed tests) and "N passed, N failed";
// exits 1 when any stage failed or was skipped.
import { spawn } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const electron = process.argv.includes('--electron') || process.env.TINY_SERVER_TEST_HOST === 'electron';
const node = process.execPath;

/** Each stage is a list of commands run one after another; the first failure fails the stage. */
const STAGES = [
  { name: 'build', commands: [[node, 'esbuild.mjs'], [node, 'esbuild.mjs', '--tests']], required: true },
  { name: 'unit', commands: [[node, '--test', '--test-reporter=spec', 'out/test/unit/']] },
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

/** Lines that name a failed test: node:test's spec reporter (✖), TAP (not ok) and mocha (N) name). */
const FAILURE_LINE = /^\s*(✖ |not ok |\d+\) )/;
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');
const MAX_NAMED = 30;

/**
 * Runs one command with its output passed through to ours; resolves with its exit code and the
 * lines that named a failed test, so the summary can repeat them where a CI log's tail shows it.
 */
function run([command, ...args]) {
  return new Promise((resolve) => {
    // The output goes through a pipe; a terminal still gets the reporters' colours.
    const env = process.stdout.isTTY ? { ...process.env, FORCE_COLOR: '1' } : process.env;
    const child = spawn(command, args, { cwd: root, env, stdio: ['inherit', 'pipe', 'pipe'] });
    current = child;
    const failures = [];
    for (const [from, to] of [[child.stdout, process.stdout], [child.stderr, process.stderr]]) {
      const decoder = new StringDecoder('utf8');
      let partial = '';
      from.on('data', (chunk) => {
        to.write(chunk);
        const lines = (partial + decoder.write(chunk)).split('\n');
        partial = lines.pop();
        for (const line of lines) {
          const plain = line.replace(ANSI, '').trimEnd();
          const named = FAILURE_LINE.test(plain) && !plain.endsWith('failing tests:');
          if (named && !failures.includes(plain.trim()) && failures.length < MAX_NAMED) failures.push(plain.trim());
        }
      });
    }
    child.on('error', (error) => {
      console.error(`Could not start ${command}: ${error.message}`);
      resolve({ code: 1, failures });
    });
    child.on('close', (code, signal) => {
      current = undefined;
      resolve({ code: code ?? (signal ? 1 : 0), failures });
    });
  });
}

async function runStage(stage) {
  const started = Date.now();
  for (const command of stage.commands) {
    const shown = `node ${command.slice(1).join(' ')}`;
    console.log(`\n> ${shown}`);
    const { code, failures } = await run(command);
    if (code !== 0 || interrupted) return { outcome: 'FAIL', seconds: (Date.now() - started) / 1000, detail: `${shown} exited with ${code}`, failures };
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
