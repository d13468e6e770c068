// The examples of the README and of the per-folder READMEs are code a newcomer will paste: run
// each exactly as written and check that it prints what the document says.
'use strict';
const test = require('ava');
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const root = path.join(__dirname, '..');
const docs = new Map();
const doc = (file) => docs.get(file) ?? docs.set(file, fs.readFileSync(path.join(root, file), 'utf8')).get(file);

/** The first js block after the heading `heading` of `file` (and, with `output`, the block after "prints"). */
function block(t, heading, output = false, file = 'README.md') {
  const m = doc(file).match(
    new RegExp(
      `^#+ ${heading.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$[\\s\\S]*?\`\`\`js\\n([\\s\\S]*?)\`\`\`${output ? '\\n\\nprints\\n\\n```\\n([\\s\\S]*?)```' : ''}`,
      'm',
    ),
  );
  t.truthy(m, `${file} has a section '${heading}' with a js block`);
  return { code: m[1], printed: m[2] };
}

const run = (code) =>
  execFileSync(process.execPath, ['-e', code], {
    cwd: root,
    env: { ...process.env, LKVIT_NUM_THREADS: '2' },
  }).toString();

test("the README's example runs and prints what it says", (t) => {
  const out = run(block(t, 'Example').code);
  t.regex(out, /y \[1,128,56,56\] x.grad \[1,128,56,56\] w.grad \[128,1,31,31\]/);
  t.regex(out, /max \|xAdv - x\| = 0\.00392/);
});

test("the README's models example runs on the fixtures and prints what it says", (t) => {
  const out = run(block(t, 'Models and checkpoints').code);
  t.regex(out, /logits \[2,10\]/);
  t.regex(out, /blocks 14 stage-1 kernel \[8,1,31,31\]/);
  t.regex(out, /grad \[2,3,64,64\] reparam changes the logits by < 1e-4/);
});

test("the README's attack example runs and prints what it says", (t) => {
  const out = run(block(t, 'Attacks, robustness suites and analyses').code);
  t.regex(out, /PGD-10: clean 1, robust 0, max \|delta\| 0\.0314/);
  t.regex(out, /AutoAttack: apgd-ce \d(\.\d+)?, apgd-t \d(\.\d+)?, fab-t \d(\.\d+)?, square \d/);
});

test("the README's training example runs and prints what it says", (t) => {
  const out = run(block(t, 'Training', false, 'src/train/README.md').code);
  t.regex(out, /epoch 10: train loss \d\.\d\d, test accuracy 1\.00/);
  const robust = Number(out.match(/robust accuracy (\d\.\d\d)/)[1]);
  t.true(robust >= 0.9, `robust accuracy ${robust}`);
});

test("the README's background (worker-thread) example runs and prints what it says", (t) => {
  const { code, printed } = block(t, 'Embedding: background calls on worker threads', true, 'src/worker/README.md');
  t.is(run(code), printed);
});

test("the README's augmentation example runs and prints what it says", (t) => {
  const { code, printed } = block(t, 'Augmentations', true, 'src/train/README.md');
  t.is(run(code), printed);
});
