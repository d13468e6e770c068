// The published type declarations (lib/*.d.ts, generated from src/) describe the API an embedder
// codes against: test/types/usage.ts must compile against them, including its expected errors.
'use strict';
const test = require('ava');
const path = require('path');
const { execFileSync } = require('child_process');

const root = path.join(__dirname, '..');
const tsc = require.resolve('typescript/bin/tsc');
const compile = (...files) => [tsc, '--noEmit', '--strict', '--target', 'ES2022', '--module', 'commonjs', '--moduleResolution', 'node',
  '--types', 'node', '--skipLibCheck', ...files.map((f) => path.join(__dirname, 'types', f))];

test('lib/index.d.ts types the public API (test/types/usage.ts and the default import compile)', (t) => {
  const args = compile('usage.ts', 'default_import.ts');
  let out = '';
  try {
    execFileSync(process.execPath, args, { cwd: root, stdio: 'pipe' });
  } catch (e) {
    out = `${e.stdout}${e.stderr}`;
  }
  t.is(out, '', out);
});
