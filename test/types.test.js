// The published type declarations (lib/*.d.ts, generated from src/) describe the API an embedder
// codes against: test/types/usage.ts must compile against them, including its expected errors.
'use strict';
const test = require('ava');
const path = require('path');
const { execFileSync } = require('child_process');

test('lib/index.d.ts types the public API (test/types/usage.ts compiles)', (t) => {
  const root = path.join(__dirname, '..');
  const tsc = require.resolve('typescript/bin/tsc');
  const args = [tsc, '--noEmit', '--strict', '--target', 'ES2022', '--module', 'commonjs', '--moduleResolution', 'node',
    '--types', 'node', '--skipLibCheck', path.join(__dirname, 'types', 'usage.ts')];
  let out = '';
  try {
    execFileSync(process.execPath, args, { cwd: root, stdio: 'pipe' });
  } catch (e) {
    out = `${e.stdout}${e.stderr}`;
  }
  t.is(out, '', out);
});
