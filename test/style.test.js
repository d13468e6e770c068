// The linter runs with the tests: `npm run lint` (ESLint over src, test, bench and native's scripts,
// eslint.config.js) must exit 0. Its cache (node_modules/.cache/eslint) makes a rerun take seconds.
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
