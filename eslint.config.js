// ESLint (flat config): `npm run lint`, run by test/style.test.js. The recommended rule sets of ESLint
// and typescript-eslint, without type information so it stays fast; the few rules that do not fit
// this code are turned off below with the reason.
'use strict';
const js = require('@eslint/js');
const tseslint = require('typescript-eslint');
const { defineConfig } = require('eslint/config');

// Node's globals for the JavaScript files (tests, benchmarks, scripts); TypeScript checks its own.
const node = Object.fromEntries(
  [
    'require',
    'module',
    'exports',
    '__dirname',
    '__filename',
    'process',
    'console',
    'Buffer',
    'globalThis',
    'setTimeout',
    'clearTimeout',
    'setInterval',
    'clearInterval',
    'setImmediate',
    'clearImmediate',
    'queueMicrotask',
    'performance',
    'structuredClone',
    'URL',
    'TextEncoder',
    'TextDecoder',
    'AbortController',
    'AbortSignal',
    'SharedArrayBuffer',
    'Atomics',
    'WebAssembly',
    'fetch',
    'BigInt',
  ].map((name) => [name, 'readonly']),
);

module.exports = defineConfig(
  {
    ignores: [
      'lib/',
      'build/',
      'build-cuda/',
      'build-cuda-emu/',
      'prebuilds/',
      'node_modules/',
      'lkvit-report/',
      'bench/results/',
      // Compile-time checks of the public types: test/types.test.js runs tsc over them, and
      // mistakes.ts is wrong on purpose.
      'test/types/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2023, sourceType: 'commonjs', globals: node },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // `_`-prefixed names are unused on purpose; so are the keys a rest destructuring drops.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
      // `any` is written only at untyped edges (parsed JSON, the profiler's wrappers of any native
      // function); strict tsc already refuses an implicit any.
      '@typescript-eslint/no-explicit-any': 'off',
      // The control characters are the point: untrusted names are checked and escaped for them.
      'no-control-regex': 'off',
    },
  },
  {
    files: ['**/*.js'],
    rules: {
      // CommonJS is this package's module system: tests, benchmarks and scripts require().
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
  {
    // Its functions run inside the browser page (page.evaluate).
    files: ['test/browser/**/*.js'],
    languageOptions: { globals: { document: 'readonly', window: 'readonly' } },
  },
);
