// lkvit info: the engine's CPU path and threads and the CUDA backend (or why there is none), as
// text and as JSON, consistent with the library's own answers.
'use strict';
const test = require('ava');
const path = require('path');
const { execFileSync } = require('child_process');
const lk = require('..');

const cli = path.join(__dirname, '..', 'lib', 'cli', 'main.js');
const run = (...args) =>
  execFileSync(process.execPath, [cli, 'info', ...args], {
    stdio: 'pipe',
    env: { ...process.env, LKVIT_CUDA_EMULATED: '' },
  }).toString();

test('lkvit info prints the version, the SIMD path, the threads and the CUDA backend or why there is none', (t) => {
  const text = run();
  const pkg = require('../package.json');
  t.regex(text, new RegExp(`^lkvit ${pkg.version.replace(/\./g, '\\.')} on Node v\\d+`));
  const isa = lk.getIsa();
  t.regex(text, new RegExp(`engine: ${isa.active} \\(best ${isa.best}\\), ${lk.getNumThreads()} threads`));
  const json = JSON.parse(run('--json'));
  t.is(json.version, pkg.version);
  t.is(json.cpu.isa, isa.active);
  const cuda = lk.cuda.info();
  t.is(json.cuda.available, cuda.available);
  t.is(json.cuda.available, json.cuda.reason === null);
  if (json.cuda.available) t.regex(text, new RegExp(`cuda: ${json.cuda.backend} on `));
  else t.true(text.includes(`cuda: not available (${json.cuda.reason})`), text);
});

test('lkvit info takes no other flags', (t) => {
  const e = t.throws(() => execFileSync(process.execPath, [cli, 'info', '--model', 'x'], { stdio: 'pipe' }));
  t.is(e.status, 2);
  t.regex(e.stderr.toString(), /^lkvit: .*--model/);
});
