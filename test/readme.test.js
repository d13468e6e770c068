// The README's example is code a newcomer will paste: run it exactly as written.
'use strict';
const test = require('ava');
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

test("the README's example runs and prints what it says", (t) => {
  const root = path.join(__dirname, '..');
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const m = readme.match(/## Example[\s\S]*?```js\n([\s\S]*?)```/);
  t.truthy(m, 'README has an ## Example section with a js block');
  const out = execFileSync(process.execPath, ['-e', m[1]], { cwd: root, env: { ...process.env, LKVIT_NUM_THREADS: '2' } }).toString();
  t.regex(out, /y \[1,128,56,56\] x.grad \[1,128,56,56\] w.grad \[128,1,31,31\]/);
  t.regex(out, /max \|xAdv - x\| = 0\.00392/);
});

test("the README's models example runs on the fixtures and prints what it says", (t) => {
  const root = path.join(__dirname, '..');
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const m = readme.match(/## Models and checkpoints[\s\S]*?```js\n([\s\S]*?)```/);
  t.truthy(m, 'README has a ## Models and checkpoints section with a js block');
  const out = execFileSync(process.execPath, ['-e', m[1]], { cwd: root, env: { ...process.env, LKVIT_NUM_THREADS: '2' } }).toString();
  t.regex(out, /logits \[2,10\]/);
  t.regex(out, /blocks 14 stage-1 kernel \[8,1,31,31\]/);
  t.regex(out, /grad \[2,3,64,64\] reparam changes the logits by < 1e-4/);
});

test("the README's attack example runs and prints what it says", (t) => {
  const root = path.join(__dirname, '..');
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const m = readme.match(/## Attacks, robustness suites and analyses[\s\S]*?```js\n([\s\S]*?)```/);
  t.truthy(m, 'README has an ## Attacks, robustness suites and analyses section with a js block');
  const out = execFileSync(process.execPath, ['-e', m[1]], { cwd: root, env: { ...process.env, LKVIT_NUM_THREADS: '2' } }).toString();
  t.regex(out, /PGD-10: clean 1, robust 0, max \|delta\| 0\.0314/);
  t.regex(out, /AutoAttack: apgd-ce \d(\.\d+)?, apgd-t \d(\.\d+)?, square \d/);
});

test("the README's training example runs and prints what it says", (t) => {
  const root = path.join(__dirname, '..');
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const m = readme.match(/## Training[\s\S]*?```js\n([\s\S]*?)```/);
  t.truthy(m, 'README has a ## Training section with a js block');
  const out = execFileSync(process.execPath, ['-e', m[1]], { cwd: root, env: { ...process.env, LKVIT_NUM_THREADS: '2' } }).toString();
  t.regex(out, /epoch 10: train loss \d\.\d\d, test accuracy 1\.00/);
  const robust = Number(out.match(/robust accuracy (\d\.\d\d)/)[1]);
  t.true(robust >= 0.9, `robust accuracy ${robust}`);
});

test("the README's background (worker-thread) example runs and prints what it says", (t) => {
  const root = path.join(__dirname, '..');
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const m = readme.match(/## Embedding: background calls on worker threads[\s\S]*?```js\n([\s\S]*?)```\n\nprints\n\n```\n([\s\S]*?)```/);
  t.truthy(m, 'README has an ## Embedding section with a js block and its output');
  const out = execFileSync(process.execPath, ['-e', m[1]], { cwd: root, env: { ...process.env, LKVIT_NUM_THREADS: '2' } }).toString();
  t.is(out, m[2]);
});
