// The linter and the formatter run with the tests: `npm run lint` (ESLint over src, test, bench and
// native's scripts, eslint.config.js) and `npm run format:check` (prettier over src, test and bench,
// clang-format over native/) must exit 0. The lint cache (node_modules/.cache/eslint) makes a
// rerun take seconds.
'use strict';
const { spawnSync } = require('child_process');
const path = require('path');
const test = require('ava');

const root = path.join(__dirname, '..');

test('npm run lint finds nothing', (t) => {
  const r = spawnSync('npm', ['run', '--silent', 'lint'], { cwd: root, encoding: 'utf8', timeout: 240_000 });
  t.is(r.error, undefined, `npm run lint did not run: ${r.error}`);
  t.is(r.status, 0, `npm run lint exited ${r.status}:\n${r.stdout}${r.stderr}`);
});

test('npm run format:check finds nothing (run npm run format to fix)', (t) => {
  const r = spawnSync('npm', ['run', '--silent', 'format:check'], { cwd: root, encoding: 'utf8', timeout: 240_000 });
  t.is(r.error, undefined, `npm run format:check did not run: ${r.error}`);
  t.is(r.status, 0, `npm run format:check exited ${r.status}:\n${r.stdout}${r.stderr}`);
});
