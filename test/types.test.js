// The published type declarations (lib/*.d.ts, generated from src/) describe the API an embedder
// codes against: test/types/usage.ts must compile against them, including its expected errors.
'use strict';
const test = require('ava');
const path = require('path');
const { execFileSync } = require('child_process');

const root = path.join(__dirname, '..');
const tsc = require.resolve('typescript/bin/tsc');
const compile = (...files) => [
  tsc,
  '--noEmit',
  '--strict',
  '--target',
  'ES2022',
  '--module',
  'commonjs',
  '--moduleResolution',
  'node',
  '--types',
  'node',
  '--skipLibCheck',
  ...files.map((f) => path.join(__dirname, 'types', f)),
];

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

// test/types/mistakes.ts marks each mistake with `// @ts-expect-error: why`. Compiled as written it
// must pass (every marked line is an error); compiled with the markers turned into plain comments,
// the errors must fall on exactly the marked lines, one mistake each, and nowhere else.
test('tsc --strict rejects each mistake in test/types/mistakes.ts, and only those', (t) => {
  const fs = require('fs');
  const run = (args) => {
    try {
      execFileSync(process.execPath, args, { cwd: root, stdio: 'pipe' });
      return '';
    } catch (e) {
      return `${e.stdout}${e.stderr}`;
    }
  };
  t.is(run(compile('mistakes.ts')), '');
  const source = fs.readFileSync(path.join(__dirname, 'types', 'mistakes.ts'), 'utf8').split('\n');
  const expected = [];
  const plain = source.map((line, i) => {
    if (!/\/\/ @ts-expect-error/.test(line)) return line;
    expected.push(i + 2); // the line after the marker, 1-based
    return line.replace('@ts-expect-error', 'mistake');
  });
  t.true(expected.length >= 15, `${expected.length} marked mistakes`);
  const unmarked = path.join(__dirname, 'types', `.mistakes-unmarked-${process.pid}.ts`);
  fs.writeFileSync(unmarked, plain.join('\n'));
  try {
    const out = run(compile(path.basename(unmarked)));
    const lines = [...out.matchAll(/mistakes-unmarked-\d+\.ts\((\d+),\d+\): error TS\d+/g)].map((m) => Number(m[1]));
    t.deepEqual(
      [...new Set(lines)].sort((a, b) => a - b),
      expected,
      out,
    );
  } finally {
    fs.unlinkSync(unmarked);
  }
});
