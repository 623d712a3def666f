import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';
import { builtinModules } from 'node:module';

const VSCODE = { name: 'vscode', message: 'Only src/extension imports vscode.' };
const NO_HTTP = ['node:http', 'http', 'node:http2', 'http2', 'node:https', 'https'].map((name) => ({
  name,
  message: 'The product is written on node:net.',
}));
const NODE_BUILTINS = builtinModules.filter((name) => !name.startsWith('_'));

export default tseslint.config(
  { ignores: ['dist/**', 'out/**', 'node_modules/**', '.vscode-test/**', 'test-results/**', '*.vsix'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': 'off',
    },
  },
  // The layers (../shared/STYLE.md): src/http <- src/server <- src/extension and src/cli.ts;
  // no arrow runs back up, and only src/extension (with src/extension.ts) touches vscode.
  {
    files: ['src/http/**'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [VSCODE],
        patterns: [
          { group: ['node:*', ...NODE_BUILTINS], message: 'src/http is the pure protocol: no sockets, files or other Node modules.' },
          { group: ['../server', '../server/*', '../extension', '../extension/*', '../cli*'], message: 'src/http imports nothing of the layers above it.' },
        ],
      }],
    },
  },
  {
    files: ['src/server/**'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [VSCODE, ...NO_HTTP],
        patterns: [
          { group: ['**/extension', '**/extension/*', '**/extension.ts', '**/cli', '**/cli-args', '**/cli.ts'], message: 'src/server imports nothing of the front ends.' },
        ],
      }],
    },
  },
  {
    files: ['src/cli*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [VSCODE, ...NO_HTTP],
        patterns: [{ group: ['./extension', './extension/*'], message: 'The CLI imports nothing of the extension.' }],
      }],
    },
  },
  {
    files: ['test/unit/**'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [{ name: 'vscode', message: 'Unit tests run under plain node; extension tests live in test/integration.' }],
        patterns: [{ group: ['**/src/extension', '**/src/extension/*', '**/src/extension.ts'], message: 'Unit tests run under plain node; the extension needs vscode.' }],
      }],
    },
  },
  {
    files: ['media/**/*.js'],
    languageOptions: { globals: { ...globals.browser } },
  },
);
