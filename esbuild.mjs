// Builds the extension, the CLI and (with --tests) the test suites.
// One esbuild context per target; `--production` minifies, `--watch` rebuilds on change.
import * as esbuild from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');
const tests = process.argv.includes('--tests');
// `--filter=parser` builds only the test files whose path contains "parser" (and keeps the rest of out/test).
const filter = process.argv.find((a) => a.startsWith('--filter='))?.slice('--filter='.length);

/** Reports build results in the format of the `$esbuild-watch` problem matcher. */
const problemMatcher = {
  name: 'problem-matcher',
  setup(build) {
    build.onStart(() => {
      if (watch) console.log('[watch] build started');
    });
    build.onEnd((result) => {
      for (const { text, location } of result.errors) {
        console.error(`✘ [ERROR] ${text}`);
        if (location) console.error(`    ${location.file}:${location.line}:${location.column}:`);
      }
      if (watch) console.log('[watch] build finished');
    });
  },
};

const { version } = JSON.parse(readFileSync('package.json', 'utf8'));

const common = {
  define: { TINY_SERVER_VERSION: JSON.stringify(version) },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: !production,
  sourcesContent: false,
  minify: production,
  logLevel: 'silent',
  plugins: [problemMatcher],
};

/** Every `*.ts` file below `dir`, recursively. */
function tsFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...tsFiles(path));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

const targets = [
  {
    ...common,
    // The Fetch bridge runs in a child process of its own (see src/server/app/fetch-bridge.ts).
    entryPoints: { extension: 'src/extension.ts', cli: 'src/cli.ts', fetch_bridge: 'src/server/app/fetch-bridge.ts' },
    outdir: 'dist',
    external: ['vscode'],
  },
];

if (tests) {
  if (filter === undefined) rmSync('out/test', { recursive: true, force: true });
  targets.push({
    ...common,
    sourcemap: true,
    entryPoints: tsFiles('test').filter((f) => filter === undefined || f.includes(filter)),
    outbase: 'test',
    outdir: 'out/test',
    external: ['vscode', 'mocha', 'playwright-core', '@vscode/test-electron', 'sirv'],
  });
}

// The WSGI bridge runs under Python, not Node: it ships as it is, next to the bundles.
mkdirSync('dist', { recursive: true });
copyFileSync('src/server/app/wsgi_bridge.py', 'dist/wsgi_bridge.py');

const contexts = await Promise.all(targets.map((t) => esbuild.context(t)));
if (watch) {
  await Promise.all(contexts.map((c) => c.watch()));
} else {
  try {
    const results = await Promise.allSettled(contexts.map((c) => c.rebuild()));
    const failed = results.filter((r) => r.status === 'rejected');
    if (failed.length > 0) process.exitCode = 1;
  } finally {
    await Promise.all(contexts.map((c) => c.dispose()));
  }
}
