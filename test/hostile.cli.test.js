// Hostile command lines (issue 19): flags that used to wrap, parse loosely, overwrite inputs, fail only
// after the work, or build a model for minutes are refused up front with one line and exit code 2.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const test = require('ava');
const lk = require('..');
const { main, exitCodeOf } = require('../lib/cli/main');
const { attackCommand } = require('../lib/cli/attack');
const { analyzeCommand } = require('../lib/cli/analyze');
const { trainCommand } = require('../lib/cli/train');
const { evalCommand } = require('../lib/cli/eval');
const { mergeCommand } = require('../lib/cli/merge');
const { rng } = require('./helpers');

const quiet = () => {};
const CONFIG = { layers: [1, 1, 1, 1], widths: [4, 4, 4, 4], stemWidth: 4, numClasses: 10 };

function setup() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lkvit-hostile-cli-'));
  lk.manualSeed(1);
  const weights = path.join(dir, 'w.safetensors');
  lk.saveWeights(lk.createModel('resnet50', CONFIG), weights);
  const r = rng(2);
  const input = path.join(dir, 'data.safetensors');
  lk.writeSafetensors(input, {
    x: { shape: [8, 3, 16, 16], data: Float32Array.from({ length: 8 * 768 }, () => r.next()) },
    y: { shape: [8], data: Float32Array.from({ length: 8 }, (_, i) => i) },
  });
  const model = ['--model', 'resnet50', '--weights', weights, '--config', JSON.stringify(CONFIG)];
  return { dir, weights, input, model, attack: ['--input', input, ...model, '--attack', 'pgd', '--steps', '2'] };
}

/** Expects a one-line usage error (exit 2) matching `pattern`, within `ms`. */
async function refused(t, promise, pattern, ms = 3000) {
  const t0 = Date.now();
  const e = await t.throwsAsync(promise);
  t.true(Date.now() - t0 < ms, `took ${Date.now() - t0} ms: ${e.message}`);
  t.is(exitCodeOf(e), 2, e.message);
  t.regex(e.message, pattern);
  t.false(e.message.includes('\n'));
}

test('integer flags: plain decimal digits only; --seed within [0, 2^32 - 1] (it used to wrap)', async (t) => {
  const s = setup();
  for (const bad of ['0x3', '1e1', '3.0', ' 3', '+3', '-3', '3abc', '99999999999999999'])
    await refused(
      t,
      attackCommand([...s.attack.slice(0, -1), bad], quiet),
      new RegExp(`attack: --steps must be an integer >= 1, got '${bad.replace(/[+.]/g, '\\$&')}'`),
    );
  await refused(t, attackCommand([...s.attack.slice(0, -2), '--steps', '0x3'], quiet), /\(plain decimal digits only\)/);
  for (const seed of ['4294967296', '18446744073709551617'])
    await refused(
      t,
      attackCommand([...s.attack, '--seed', seed], quiet),
      /attack: --seed must be an integer in \[0, 4294967295\]/,
    );
  await refused(
    t,
    analyzeCommand(['occlusion', ...s.model, '--input', s.input, '--out', s.dir, '--seed', '4294967296'], quiet),
    /analyze: --seed must be an integer in \[0, 4294967295\]/,
  );
  await refused(
    t,
    trainCommand(
      [
        ...s.model.slice(0, 2),
        '--input',
        s.input,
        '--epochs',
        '1',
        '--out',
        path.join(s.dir, 't.safetensors'),
        '--seed',
        '4294967296',
      ],
      quiet,
    ),
    /train: --seed must be an integer in \[0, 4294967295\]/,
  );
  // The largest seed is taken, and the same as the API's.
  const json = path.join(s.dir, 'max.json');
  await attackCommand([...s.attack, '--seed', '4294967295', '--json', json], quiet);
  t.is(JSON.parse(fs.readFileSync(json, 'utf8')).settings.seed, 4294967295);
});

test('outputs that would overwrite an input or each other are refused before any work, and the input is untouched', async (t) => {
  const s = setup();
  const before = fs.readFileSync(s.input);
  const link = path.join(s.dir, 'link.safetensors');
  fs.symlinkSync(s.input, link);
  fs.mkdirSync(path.join(s.dir, 'sub'));
  for (const out of [s.input, link, path.join(s.dir, 'sub', '..', 'data.safetensors')])
    await refused(
      t,
      attackCommand([...s.attack, '--out', out], quiet),
      /attack: --out '.*' is the same file as --input/,
    );
  await refused(t, attackCommand([...s.attack, '--out', s.weights], quiet), /--out '.*' is the same file as --weights/);
  t.deepEqual(fs.readFileSync(s.input), before);
  const out = path.join(s.dir, 'adv.safetensors');
  await refused(
    t,
    attackCommand([...s.attack, '--out', out, '--json', out], quiet),
    /attack: --json '.*' is the same file as --out/,
  );
  await refused(t, attackCommand([...s.attack, '--json', s.input], quiet), /--json '.*' is the same file as --input/);
  // Folder outputs: --json onto a file the command writes in --out.
  await refused(
    t,
    analyzeCommand(
      ['occlusion', ...s.model, '--input', s.input, '--out', s.dir, '--json', path.join(s.dir, 'occlusion.json')],
      quiet,
    ),
    /analyze: --json '.*occlusion\.json' is the same file as --out \(occlusion\.json\)/,
  );
  await refused(
    t,
    evalCommand(
      ['--suite', 'imagenet', '--data', s.dir, ...s.model, '--out', s.dir, '--json', path.join(s.dir, 'report.json')],
      quiet,
    ),
    /eval: --json '.*report\.json' is the same file as --out \(report\.json\)/,
  );
  await refused(
    t,
    trainCommand([...s.model.slice(0, 2), '--input', s.input, '--epochs', '1', '--out', s.input], quiet),
    /train: --out '.*' is the same file as --input/,
  );
  await refused(
    t,
    trainCommand(
      [...s.model.slice(0, 2), '--input', s.input, '--epochs', '1', '--out', out, '--checkpoint', out],
      quiet,
    ),
    /--checkpoint '.*' is the same file as --out/,
  );
  t.deepEqual(fs.readFileSync(s.input), before);

  // merge: --out onto a shard's own x_adv file.
  const shards = path.join(s.dir, 'shards');
  fs.mkdirSync(shards);
  for (const i of [1, 2])
    await attackCommand(
      [
        ...s.attack,
        '--batch-size',
        '4',
        '--shard',
        `${i}/2`,
        '--out',
        path.join(shards, `adv-${i}.safetensors`),
        '--json',
        path.join(shards, `pgd.shard-${i}-of-2.json`),
      ],
      quiet,
    );
  const xAdv = fs.readFileSync(path.join(shards, 'adv-1.safetensors'));
  await refused(
    t,
    mergeCommand([shards, '--out', path.join(shards, 'adv-1.safetensors')], quiet),
    /merge: --out '.*adv-1\.safetensors' is the same file as the shard input/,
  );
  await refused(
    t,
    mergeCommand([shards, '--json', path.join(shards, 'pgd.shard-2-of-2.json')], quiet),
    /merge: --json '.*' is the same file as the shard input/,
  );
  t.deepEqual(fs.readFileSync(path.join(shards, 'adv-1.safetensors')), xAdv);
});

test('an output that cannot be written fails before the attack, not after it', async (t) => {
  const s = setup();
  const file = path.join(s.dir, 'plain-file');
  fs.writeFileSync(file, 'x');
  // 2000 PGD steps would take far longer than the 3 s the refusal may take.
  const slow = [...s.attack.slice(0, -1), '2000'];
  await refused(
    t,
    attackCommand([...slow, '--out', path.join(file, 'adv.safetensors')], quiet),
    /attack: --out '.*' cannot be written: its folder '.*plain-file' does not exist|is not a folder/,
  );
  await refused(
    t,
    attackCommand([...slow, '--out', path.join(s.dir, 'missing', 'adv.safetensors')], quiet),
    /--out '.*' cannot be written: its folder '.*missing' does not exist/,
  );
  await refused(t, attackCommand([...slow, '--out', s.dir], quiet), /--out '.*' is a folder, expected a file/);
  await refused(
    t,
    attackCommand([...slow, '--json', path.join(file, 'r.json')], quiet),
    /--json '.*' cannot be written/,
  );
  await refused(
    t,
    analyzeCommand(['occlusion', ...s.model, '--input', s.input, '--out', file], quiet),
    /analyze: --out '.*plain-file' is a file, expected a folder/,
  );
  await refused(
    t,
    analyzeCommand(['occlusion', ...s.model, '--input', s.input, '--out', path.join(file, 'deeper')], quiet),
    /--out '.*' cannot be written: '.*plain-file' is not a folder/,
  );
  // /proc refuses new files even to root: the probe file finds it.
  if (fs.existsSync('/proc/self'))
    await refused(
      t,
      attackCommand([...slow, '--out', '/proc/self/adv.safetensors'], quiet),
      /--out '\/proc\/self\/adv\.safetensors' cannot be written \(E[A-Z]+ in '\/proc\/self'\)/,
    );
  // No probe file is left behind.
  t.deepEqual(
    fs.readdirSync(s.dir).filter((n) => n.startsWith('.lkvit-write-check')),
    [],
  );
});

test('--config that would build billions of parameters is refused at once (exit 2), as is createModel', async (t) => {
  const s = setup();
  const base = ['--input', s.input, '--model', 'resnet50', '--weights', s.weights, '--attack', 'fgsm'];
  await refused(
    t,
    attackCommand([...base, '--config', JSON.stringify({ ...CONFIG, layers: [1e9, 1, 1, 1] })], quiet),
    /attack: --config: layers must hold numbers in \[0, 1048576\]/,
    1000,
  );
  await refused(
    t,
    attackCommand(
      [...base, '--config', JSON.stringify({ ...CONFIG, layers: [100000, 1, 1, 1], widths: [1024, 4, 4, 4] })],
      quiet,
    ),
    /attack: --config: this resnet50 configuration has about 1\.78e\+12 parameters, more than the 2147483648 \(2\^31\) allowed/,
    1000,
  );
  await refused(
    t,
    attackCommand(
      [...base, '--config', JSON.stringify({ ...CONFIG, numClasses: undefined }), '--num-classes', '999999999'],
      quiet,
    ),
    /attack: --config: numClasses must hold numbers in \[0, 1048576\]/,
    1000,
  );
  await refused(
    t,
    trainCommand(
      [
        '--model',
        'vit_ti16',
        '--config',
        JSON.stringify({ depth: 1e5 }),
        '--input',
        s.input,
        '--epochs',
        '1',
        '--out',
        path.join(s.dir, 'v.safetensors'),
      ],
      quiet,
    ),
    /train: --config: this vit_ti16 configuration has about .* parameters/,
    1000,
  );
  t.throws(() => lk.createModel('convnext_tiny', { dims: [1e6, 1e6, 1e6, 1e6] }), {
    instanceOf: RangeError,
    message: /parameters, more than the 2147483648/,
  });
  t.throws(() => lk.createModel('resnet50', { layers: Array(17).fill(1) }), {
    instanceOf: RangeError,
    message: /layers must have at most 16 entries/,
  });
  // Through main: exit code 2 and one line on stderr.
  t.is(await main(['attack', ...base, '--config', JSON.stringify({ layers: [1e9, 1, 1, 1] })], quiet), 2);
});
