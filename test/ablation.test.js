// The augmentation ablation (lk.runAugmentAblation, lkvit ablate augment): all 16 combinations on a
// small slice of the demo's digits with a small RepLKNet, then what a reader of the table relies on:
// the 16 names (built here from the bits, not from the code), accuracies that are counts over the
// held-out samples (one recomputed from the saved weights), robust <= clean, a second call that
// retrains nothing, an interrupted shard resumed from its fit checkpoint, and shards that merge
// (through lkvit merge) into the rows of the unsharded run, with edited shard reports refused.
// Serial: runCli swaps process.stderr.write while a command runs.
'use strict';
const test = require('ava');
const fs = require('fs');
const os = require('os');
const path = require('path');
const crypto = require('crypto');
const lk = require('../lib');
const { mnistSplit } = require('../lib/demo/mnist');
const { runCli } = require('./cli_run');

const tmp = (name) => fs.mkdtempSync(path.join(os.tmpdir(), `lkvit-ablation-${name}-`));
const sha256 = (s) => crypto.createHash('sha256').update(s).digest('hex');

// A 2-stage RepLKNet with 7x7 kernels learns the digits in a few hundred steps; the settings keep
// every run under a second.
const MODEL = {
  name: 'replknet31b',
  config: {
    kernelSizes: [7, 5],
    layers: [1, 1],
    channels: [16, 32],
    smallKernel: null,
    dwRatio: 1,
    ffnRatio: 2,
    numClasses: 10,
    stemStride: 2,
  },
};
const SETTINGS = {
  trainSamples: 384,
  testSamples: 32,
  epochs: 2,
  batchSize: 16,
  warmupEpochs: 0,
  lr: 1e-2,
  eps: 0.02,
  pgdSteps: 3,
  autoattackSteps: 2,
  autoattackQueries: 10,
  evalBatchSize: 32,
};
const options = (out, extra = {}) => ({ out, model: MODEL, settings: SETTINGS, seed: 0, ...extra });

// The 16 subsets by their bits, independently of lkvit's ordering code: bit 0 CutMix, 1 RandAugment, 2 MixUp, 3 Random Erasing.
const MEMBERS = ['cutmix', 'randaugment', 'mixup', 'erase'];
const EXPECTED = Array.from({ length: 16 }, (_, k) => MEMBERS.filter((_, i) => (k >> i) & 1).join('+') || 'none');
const comparable = (rows) => rows.map(({ trainSeconds, evalSeconds, ...rest }) => rest);

let full; // the unsharded run, shared by the tests below
const fullDir = tmp('full');
test.before(async () => {
  full = await lk.runAugmentAblation(options(fullDir));
});

test.serial('16 rows named by their members, accuracies as counts over the held-out samples, robust <= clean', (t) => {
  const { rows } = full.report;
  t.deepEqual(
    rows.map((r) => r.name),
    EXPECTED,
  );
  t.is(full.trained, 16);
  t.is(full.skipped, 0);
  for (const r of rows) {
    t.deepEqual(r.augments, r.name === 'none' ? [] : r.name.split('+'));
    t.is(r.samples, SETTINGS.testSamples);
    for (const [acc, count] of [
      [r.cleanAccuracy, r.cleanCorrect],
      [r.pgdAccuracy, r.pgdCorrect],
      [r.autoattackAccuracy, r.autoattackCorrect],
    ]) {
      t.true(acc >= 0 && acc <= 1, `${r.name}: ${acc}`);
      t.true(Number.isInteger(count));
      t.is(acc, count / r.samples);
    }
    t.true(r.pgdAccuracy <= r.cleanAccuracy, `${r.name}: PGD ${r.pgdAccuracy} > clean ${r.cleanAccuracy}`);
    t.true(
      r.autoattackAccuracy <= r.cleanAccuracy,
      `${r.name}: AutoAttack ${r.autoattackAccuracy} > clean ${r.cleanAccuracy}`,
    );
    t.is(r.trainLoss.length, SETTINGS.epochs);
    t.true(r.trainLoss.every(Number.isFinite));
  }
  // The models learnt something and the attack hurt some of them: the checks above are not vacuous.
  t.true(rows[0].cleanAccuracy >= 0.4, `clean accuracy without augmentation ${rows[0].cleanAccuracy}`);
  t.true(
    rows.some((r) => r.pgdCorrect < r.cleanCorrect),
    'PGD changes no prediction in any row',
  );
  // The augmentations change the training: not every row is the same.
  t.true(new Set(rows.map((r) => r.trainLoss[0])).size > 8);
});

test.serial("a row's clean accuracy is the saved weights' accuracy on the held-out prefix", async (t) => {
  const row = full.report.rows.find((r) => r.name === 'none');
  const { model } = lk.loadModel(MODEL.name, path.join(fullDir, 'runs', 'none.safetensors'), MODEL.config);
  model.eval();
  const { x, y } = await mnistSplit({ seed: 0 }).test.load(0, SETTINGS.testSamples);
  const logits = model.forward(x);
  const K = logits.shape[1];
  let correct = 0;
  for (let n = 0; n < y.length; n++) {
    let best = 0;
    for (let k = 1; k < K; k++) if (logits.data[n * K + k] > logits.data[n * K + best]) best = k;
    correct += best === y[n];
  }
  t.is(row.cleanCorrect, correct);
});

test.serial('the report files: the table, CSV, JSON and the figure', async (t) => {
  for (const f of ['ablation.json', 'ablation.csv', 'ablation.txt', 'ablation.svg', 'ablation.png'])
    t.true(fs.existsSync(path.join(fullDir, f)), f);
  const json = JSON.parse(fs.readFileSync(path.join(fullDir, 'ablation.json'), 'utf8'));
  t.deepEqual(
    json.rows.map((r) => r.name),
    EXPECTED,
  );
  const csv = fs.readFileSync(path.join(fullDir, 'ablation.csv'), 'utf8').trim().split('\n');
  t.is(csv.length, 17);
  const last = csv[16].split(',');
  t.deepEqual(last.slice(0, 5), ['cutmix+randaugment+mixup+erase', '1', '1', '1', '1']);
  const table = fs.readFileSync(path.join(fullDir, 'ablation.txt'), 'utf8');
  for (const name of EXPECTED) t.regex(table, new RegExp(`^${name.replace(/\+/g, '\\+')} `, 'm'));
  const svg = fs.readFileSync(path.join(fullDir, 'ablation.svg'), 'utf8');
  t.is((svg.match(/class="cell"/g) || []).length, 16);
  const meta = await require('sharp')(path.join(fullDir, 'ablation.png')).metadata();
  t.is(meta.format, 'png');
  t.is(meta.width, 640);
});

test.serial('a second call with the same folder trains nothing and returns the same rows', async (t) => {
  const again = await lk.runAugmentAblation(options(fullDir));
  t.is(again.trained, 0);
  t.is(again.skipped, 16);
  t.deepEqual(comparable(again.report.rows), comparable(full.report.rows));
  // Other settings in the same folder are refused, naming what differs.
  await t.throwsAsync(lk.runAugmentAblation(options(fullDir, { settings: { ...SETTINGS, epochs: 3 } })), {
    message: /holds an ablation run with a different settings/,
  });
});

test.serial(
  'shards: an interrupted shard resumes from its checkpoint; lkvit merge gives the unsharded rows',
  async (t) => {
    const dir = tmp('shards');
    const names = ['none', 'cutmix', 'randaugment', 'mixup+erase'];
    // Shard 1/2 (none, cutmix) is stopped in the second epoch of cutmix, after its first checkpoint.
    const signal = { aborted: false };
    const steps = [];
    await t.throwsAsync(
      lk.runAugmentAblation(
        options(dir, {
          combinations: names,
          shard: { index: 1, count: 2 },
          signal,
          onProgress: (p) => {
            if (p.phase === 'train cutmix') steps.push(p.done);
            if (p.phase === 'train cutmix' && p.done === p.total / 2 + 2) signal.aborted = true;
          },
        }),
      ),
      { name: 'AbortError' },
    );
    t.true(fs.existsSync(path.join(dir, 'runs', 'cutmix.checkpoint.safetensors')));
    const stepsPerEpoch = SETTINGS.trainSamples / SETTINGS.batchSize;
    const resumedSteps = [];
    const first = await lk.runAugmentAblation(
      options(dir, {
        combinations: names,
        shard: { index: 1, count: 2 },
        onProgress: (p) => p.phase === 'train cutmix' && resumedSteps.push(p.done),
      }),
    );
    t.is(first.skipped, 1); // none had finished
    t.is(first.trained, 1);
    // The resumed training starts in the second epoch (from the checkpoint), not from scratch.
    t.is(resumedSteps[0], stepsPerEpoch + 1);
    t.false(fs.existsSync(path.join(dir, 'runs', 'cutmix.checkpoint.safetensors')));
    const second = await lk.runAugmentAblation(options(dir, { combinations: names, shard: { index: 2, count: 2 } }));
    t.deepEqual(second.files, ['ablation.shard-2-of-2.json']);

    const out = path.join(dir, 'merged');
    const r = await runCli(['merge', dir, '--out', out, '--quiet']);
    t.is(r.code, 0, r.err);
    const merged = JSON.parse(fs.readFileSync(path.join(out, 'ablation.json'), 'utf8'));
    t.deepEqual(
      merged.rows.map((row) => row.name),
      names,
    );
    // Bit-identical training: the resumed cutmix included.
    t.deepEqual(comparable(merged.rows), comparable(full.report.rows.filter((row) => names.includes(row.name))));

    // Edited shard reports, their digest recomputed as a forger would: refused, naming the shard and field.
    const file = path.join(dir, 'ablation.shard-2-of-2.json');
    const original = fs.readFileSync(file, 'utf8');
    const forge = async (edit, pattern) => {
      const report = JSON.parse(original);
      edit(report);
      report.digest.payload = sha256(JSON.stringify(report.payload));
      fs.writeFileSync(file, JSON.stringify(report));
      const m = await runCli(['merge', dir, '--out', path.join(dir, 'forged'), '--quiet']);
      t.is(m.code, 2, m.err);
      t.regex(m.err, pattern);
    };
    await forge(
      (p) => (p.payload.rows[0].cleanCorrect = SETTINGS.testSamples + 1),
      /shard 2\/2: payload\.rows\[0\]\.cleanCorrect must be an integer in \[0, 32\]/,
    );
    await forge(
      (p) => (p.payload.rows[1].pgdCorrect = p.payload.rows[1].cleanCorrect + 1),
      /payload\.rows\[1\]\.pgdCorrect must be an integer in \[0, \d+\]/,
    );
    await forge((p) => (p.payload.rows[0].name = 'cutmix'), /payload\.rows\[0\]\.name must be 'randaugment'/);
    await forge((p) => p.payload.rows.pop(), /payload\.rows must be an array of 2/);
    await forge(
      (p) => (p.payload.rows[0].trainLoss = [1, 'x']),
      /payload\.rows\[0\]\.trainLoss\[1\] must be a finite number/,
    );
    await forge((p) => (p.run.combinations = [...names, 'none']), /come from different runs|run\.combinations\[4\]/);
    fs.writeFileSync(file, original);
    // Run-level forgeries must be in every shard (else they are different runs): the settings the table prints are checked too.
    const files = [path.join(dir, 'ablation.shard-1-of-2.json'), file];
    const originals = files.map((f) => fs.readFileSync(f, 'utf8'));
    const forgeRun = async (edit, pattern) => {
      files.forEach((f, i) => {
        const report = JSON.parse(originals[i]);
        edit(report.run);
        fs.writeFileSync(f, JSON.stringify(report));
      });
      const m = await runCli(['merge', dir, '--out', path.join(dir, 'forged'), '--quiet']);
      t.is(m.code, 2, m.err);
      t.regex(m.err, pattern);
      t.false(m.err.includes('\x1b'), 'a terminal escape from the file reached the message');
    };
    await forgeRun(
      (run) => (run.settings.adversarial = '\x1b[31mred'),
      /shard 1\/2: run\.settings\.adversarial must be what runAugmentAblation allows for it/,
    );
    await forgeRun((run) => (run.settings.epochs = 1e9), /run\.settings\.epochs must be/);
    await forgeRun(
      (run) => (run.settings['\x1b[2J'] = 1),
      /run\.settings must be an object of the ablation settings and no other keys/,
    );
    await forgeRun((run) => (run.model.name = 'vit\x1b[0m'), /run\.model\.name must be a model name/);
    await forgeRun(
      (run) => (run.combinations[0] = 'cutmix+cutmix'),
      /run\.combinations\[0\] must be a distinct combination name/,
    );
    files.forEach((f, i) => fs.writeFileSync(f, originals[i]));
  },
);

test.serial('lkvit ablate augment: bad flags are usage errors naming the flag', async (t) => {
  const dir = tmp('cli');
  const cases = [
    [['ablate', 'augmnt', '--out', dir], /unknown study 'augmnt'/],
    [['ablate', 'augment'], /--out DIR is required/],
    [
      ['ablate', 'augment', '--out', dir, '--combinations', 'none,cutmixx'],
      /combination "cutmixx" must be 'none' or members of cutmix, randaugment, mixup, erase/,
    ],
    [['ablate', 'augment', '--out', dir, '--batch-size', '15'], /--batch-size must be even/],
    [['ablate', 'augment', '--out', dir, '--epochs', '0'], /--epochs must be an integer >= 1/],
    [['ablate', 'augment', '--out', dir, '--adversarial', 'pgd'], /--adversarial must be .*pgd-at.*trades.*got 'pgd'/],
    [['ablate', 'augment', '--out', dir, '--attack-steps', '3'], /--attack-steps needs --adversarial/],
    [['ablate', 'augment', '--out', dir, '--eps', '2'], /--eps must be at most 1/],
    [
      ['ablate', 'augment', '--out', dir, '--input', path.join(dir, 'x.safetensors')],
      /--input and --validation go together/,
    ],
    [['ablate', 'augment', '--out', dir, '--shard', '3/2'], /--shard must be i\/n/],
  ];
  for (const [argv, pattern] of cases) {
    const r = await runCli(argv);
    t.is(r.code, 2, argv.join(' '));
    t.regex(r.err, pattern, argv.join(' '));
  }
});

test.serial('lkvit ablate augment runs the combinations it is given and resumes from its folder', async (t) => {
  const dir = tmp('cli-run');
  const argv = [
    'ablate',
    'augment',
    '--out',
    dir,
    '--model',
    MODEL.name,
    '--config',
    JSON.stringify(MODEL.config),
    '--seed',
    '0',
    '--train-samples',
    '384',
    '--test-samples',
    '32',
    '--epochs',
    '2',
    '--batch-size',
    '16',
    '--lr',
    '1e-2',
    '--eps',
    '0.02',
    '--pgd-steps',
    '3',
    '--autoattack-steps',
    '2',
    '--autoattack-queries',
    '10',
    '--combinations',
    'mixup',
    '--quiet',
  ];
  const r = await runCli([...argv, '--json', path.join(dir, 'r.json')]);
  t.is(r.code, 0, r.err);
  t.regex(r.out, /^mixup +/m);
  t.regex(r.out, /1 run\(s\) trained, 0 reused/);
  const result = JSON.parse(fs.readFileSync(path.join(dir, 'r.json'), 'utf8'));
  t.deepEqual(
    result.rows.map((row) => row.name),
    ['mixup'],
  );
  t.deepEqual(result.rows[0].augments, ['mixup']);
  const again = await runCli(argv);
  t.is(again.code, 0, again.err);
  t.regex(again.out, /0 run\(s\) trained, 1 reused/);
});
