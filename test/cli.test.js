// The lkvit command line, run in-process: predict on tensors and on image files, and its errors.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const test = require('ava');
const lk = require('..');
const { relErr } = require('./helpers');
const { runCli: run } = require('./cli_run');

const models = path.join(__dirname, 'fixtures', 'models');
const images = path.join(__dirname, 'fixtures', 'images');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lkvit-cli-'));

test.serial(
  'predict --input writes the logits PyTorch computed (merged checkpoint, --config, --reparam)',
  async (t) => {
    const io = lk.readSafetensors(path.join(models, 'replknet_tiny.io.safetensors'));
    const out = path.join(tmp, 'replknet.safetensors');
    for (const extra of [[], ['--reparam']]) {
      const r = await run([
        'predict',
        '--model',
        'replknet31b',
        '--weights',
        path.join(models, 'replknet_tiny.safetensors'),
        '--config',
        io.metadata.config,
        '--input',
        path.join(models, 'replknet_tiny.io.safetensors'),
        '--key',
        'x',
        '--out',
        out,
        ...extra,
      ]);
      t.is(r.code, 0, r.err);
      t.regex(r.out, /2 input\(s\) in .* images\/s/);
      const logits = lk.readSafetensors(out).tensors.get('logits');
      t.deepEqual(logits.shape, [2, 10]);
      t.true(relErr(logits.data, io.tensors.get('logits').data) <= 1e-4);
    }
  },
);

test.serial('predict --input reads a .pth checkpoint', async (t) => {
  const io = lk.readSafetensors(path.join(models, 'resnet_tiny.io.safetensors'));
  const out = path.join(tmp, 'resnet.safetensors');
  const r = await run([
    'predict',
    '--model',
    'resnet50',
    '--weights',
    path.join(models, 'resnet_tiny.pth'),
    '--config',
    io.metadata.config,
    '--input',
    path.join(models, 'resnet_tiny.io.safetensors'),
    '--out',
    out,
    '--batch-size',
    '1',
  ]);
  t.is(r.code, 0, r.err);
  t.true(relErr(lk.readSafetensors(out).tensors.get('logits').data, io.tensors.get('logits').data) <= 1e-4);
});

test.serial('predict --images runs the evaluation transform and prints the top-5 classes', async (t) => {
  const io = lk.readSafetensors(path.join(models, 'convnext_tiny_k7.io.safetensors'));
  const files = ['rgb.png', 'q420.jpg', 'lossless.webp'].map((f) => path.join(images, f));
  const out = path.join(tmp, 'images.safetensors');
  const names = path.join(tmp, 'names.txt');
  fs.writeFileSync(names, Array.from({ length: 10 }, (_, i) => `class${i}`).join('\n'));
  const r = await run([
    'predict',
    '--model',
    'convnext_tiny',
    '--weights',
    path.join(models, 'convnext_tiny_k7.safetensors'),
    '--config',
    io.metadata.config,
    '--images',
    files[0],
    '--images',
    files[1],
    '--images',
    files[2],
    '--resize',
    '72',
    '--crop',
    '64',
    '--batch-size',
    '2',
    '--class-names',
    names,
    '--out',
    out,
  ]);
  t.is(r.code, 0, r.err);
  const printed = r.out.split('\n').filter((l) => /^(rgb|q420|lossless)/.test(l));
  t.is(printed.length, 3);
  t.regex(printed[0], /^rgb\.png: \d class\d \(\d+\.\d%\)(, \d class\d \(\d+\.\d%\)){4}$/);
  // Same logits as the API on the same images.
  const { model } = lk.loadModel(
    'convnext_tiny',
    path.join(models, 'convnext_tiny_k7.safetensors'),
    JSON.parse(io.metadata.config),
  );
  const batch = await lk.loadImageBatch(files, { resize: 72, crop: 64 });
  const want = lk.noGrad(() => model.forward(lk.tensor(batch.data, batch.shape)));
  const got = lk.readSafetensors(out);
  t.deepEqual(got.tensors.get('logits').shape, [3, 10]);
  t.true(relErr(got.tensors.get('logits').data, want.data) <= 1e-5);
  t.deepEqual(JSON.parse(got.metadata.images), ['rgb.png', 'q420.jpg', 'lossless.webp']);
});

test.serial('bad command lines exit with code 2 and say what is wrong', async (t) => {
  const w = path.join(models, 'vit_tiny.safetensors');
  const io = path.join(models, 'vit_tiny.io.safetensors');
  const cases = [
    [
      ['predict', '--weights', w, '--input', io, '--out', 'y'],
      /--model is required: '.*vit_tiny\.safetensors' does not record its model/,
    ],
    [['predict', '--model', 'vit_b16', '--weights', w, '--out', 'y'], /exactly one of --input and --images/],
    [['predict', '--model', 'vit_b16', '--wieghts', w], /unknown flag --wieghts \(did you mean --weights\?\)/],
    [
      ['predict', '--model', 'vit_b16', '--weights', w, '--input', io, '--out', 'y', '--mean', '1,2'],
      /--mean must be three comma-separated numbers/,
    ],
    [
      ['predict', '--model', 'vit_b16', '--weights', w, '--input', io, '--out', 'y', '--config', '[1]'],
      /--config must be a JSON object/,
    ],
    [
      ['predict', '--model', 'vit_b16', '--weights', w, '--input', io, '--out', 'y', '--config', '{"kernelSize":13}'],
      /--config has unknown option\(s\) kernelSize for vit_b16/,
    ],
    [
      ['predict', '--model', 'vit_b99', '--weights', w, '--input', io, '--out', 'y'],
      /--model 'vit_b99' is not a model \(did you mean vit_b16\?\); known models: replknet31b/,
    ],
    [
      ['predict', '--model', 'vit_b16', '--weights', path.join(tmp, 'nope.safetensors'), '--input', io, '--out', 'y'],
      /--weights '.*nope\.safetensors' does not exist/,
    ],
    [
      ['predict', '--model', 'vit_b16', '--weights', w, '--input', path.join(tmp, 'nope.safetensors'), '--out', 'y'],
      /--input '.*nope\.safetensors' does not exist/,
    ],
    [
      ['predict', '--model', 'vit_b16', '--weights', models, '--input', io, '--out', 'y'],
      /--weights '.*' is a folder, expected a file/,
    ],
    [
      ['predict', '--model', 'vit_b16', '--weights', w, '--images', path.join(tmp, 'no-such-dir'), '--out', 'y'],
      /--images '.*no-such-dir' does not exist/,
    ],
    [
      ['predict', '--model', 'vit_b16', '--weights', w, '--input', io, '--out', 'y', '--batch-size', '-3'],
      /--batch-size must be an integer >= 1, got '-3'/,
    ],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['predcit', '--help'], /unknown command 'predcit' \(did you mean predict\?\)/],
  ];
  for (const [argv, message] of cases) {
    const r = await run(argv);
    t.is(r.code, 2, argv.join(' '));
    t.regex(r.err, message);
    // One line, no stack trace.
    t.is(r.err.trim().split('\n').length, 1, r.err);
  }
  // Problems found while running exit with 1: a model that does not fit the checkpoint, --reparam on a ViT.
  const misfit = await run([
    'predict',
    '--model',
    'vit_b16',
    '--weights',
    w,
    '--input',
    path.join(models, 'vit_tiny.io.safetensors'),
    '--out',
    path.join(tmp, 'o.safetensors'),
  ]);
  t.is(misfit.code, 1);
  t.regex(misfit.err, /does not fit vit_b16 \{"imageSize":32\} \(120 missing, 0 unexpected, 31 mismatched keys\)/);
  t.regex(misfit.err, /these weights look like --model vit_ti16 --config '\{"embedDim":32,"depth":2\}'.*--non-strict/);
  // A short summary: the counts, then at most three keys of each kind.
  const lines = misfit.err.trim().split('\n');
  t.true(lines.length <= 4 && misfit.err.length < 1200, misfit.err);
  t.regex(lines[1], /missing \(in the model, not the file\): blocks\.2\.norm1\.weight, .* \(and 117 more\)$/);
  t.regex(lines[2], /mismatched: cls_token \[1, 1, 768\] in the model, \[1, 1, 32\] in the file, .* \(and 28 more\)$/);
  const cfg = lk.readSafetensors(path.join(models, 'vit_tiny.io.safetensors')).metadata.config;
  // What the fixture was generated with agrees with the hint (numHeads is not in any shape).
  t.like(JSON.parse(cfg), { embedDim: 32, depth: 2 });
  const rep = await run([
    'predict',
    '--model',
    'vit_b16',
    '--weights',
    w,
    '--config',
    cfg,
    '--input',
    path.join(models, 'vit_tiny.io.safetensors'),
    '--out',
    path.join(tmp, 'o.safetensors'),
    '--reparam',
  ]);
  t.is(rep.code, 2);
  t.regex(rep.err, /--reparam applies to RepLKNet models/);
});

test.serial('models lists every model with its normalisation', async (t) => {
  const r = await run(['models']);
  t.is(r.code, 0);
  for (const name of [
    'replknet31b',
    'replknet31l',
    'replknetxl',
    'vit_ti16',
    'vit_b16',
    'vit_l16',
    'resnet50',
    'convnext_tiny',
    'convnext_large',
    'bit_m_r101x3',
  ])
    t.regex(r.out, new RegExp(`^${name} `, 'm'));
});
