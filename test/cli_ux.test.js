// The command line's shared conventions: progress bars, --json, --help with defaults, exit codes;
// and `lkvit bench`.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const test = require('ava');
const lk = require('..');
const { formatEta, formatRate, formatProgressLine, progress } = require('../lib/cli/progress');
const { parseFlags, usage, commandOutput, COMMON_FLAGS, UsageError } = require('../lib/cli/args');
const { COMMANDS, exitCodeOf } = require('../lib/cli/main');
const { runCli: run } = require('./cli_run');

const models = path.join(__dirname, 'fixtures', 'models');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lkvit-cliux-'));

/** A stream that says it is a terminal and records what is drawn. */
function fakeTTY(isTTY = true, columns = 80) {
  const writes = [];
  return { isTTY, columns, writes, write: (s) => (writes.push(String(s)), true) };
}

test('formatEta and formatRate', (t) => {
  t.is(formatEta(0), '0s');
  t.is(formatEta(59.4), '59s');
  t.is(formatEta(185), '3m05s');
  t.is(formatEta(3600 * 2 + 7 * 60 + 20), '2h07m');
  t.is(formatEta(NaN), '--');
  t.is(formatEta(Infinity), '--');
  t.is(formatRate(12.345), '12.3/s');
  t.is(formatRate(0.5), '0.500/s');
  t.is(formatRate(0.05), '3.00/min');
  t.is(formatRate(12345.6), '12346/s');
  t.is(formatRate(0), '--/s');
});

test('formatProgressLine: count, percent, rate, ETA and a bar that fits the width', (t) => {
  // 12 of 40 in 4 s: 3/s, 28 left -> 9.33 s.
  const line = formatProgressLine('eval', 12, 40, 4, 80, 'batch 3');
  t.is(line, `eval [${'#'.repeat(9)}${'.'.repeat(21)}] 12/40 30% 3.00/s ETA 9s batch 3`);
  t.true(formatProgressLine('a-very-long-label', 1, 3, 1, 40).length < 40);
  t.regex(formatProgressLine('x', 5, 5, 2, 80), /\[#+\] 5\/5 100% 2\.50\/s ETA 0s$/);
});

test('progress draws on a TTY at most every interval and ends the line on finish', (t) => {
  let now = 0;
  const stream = fakeTTY();
  const bar = progress('job', 10, { stream, now: () => now, interval: 100 });
  bar.update(1); // first draw
  now = 50;
  bar.update(2); // too soon: skipped
  now = 150;
  bar.update(3, undefined, 'note'); // drawn
  now = 160;
  bar.update(10); // the last item is always drawn
  bar.finish();
  bar.update(4); // after finish: nothing
  t.is(stream.writes.length, 5);
  t.true(stream.writes.slice(0, 4).every((s) => s.startsWith('\r') && s.endsWith('\x1b[K')));
  t.regex(stream.writes[0], /job \[.*\] 1\/10 10% --\/s ETA --/);
  t.regex(stream.writes[1], /3\/10 30% 20\.0\/s ETA 0s note/); // 3 in 0.15 s
  t.regex(stream.writes[2], /10\/10 100%/);
  t.is(stream.writes[4], '\n');
});

test('progress prints nothing when quiet or when the stream is not a terminal', (t) => {
  for (const [stream, quiet] of [
    [fakeTTY(false), false],
    [fakeTTY(true), true],
  ]) {
    const bar = progress('job', 3, { stream, quiet });
    bar.update(1);
    bar.update(3);
    bar.finish('done');
    t.deepEqual(stream.writes, []);
  }
});

test('--json takes an optional FILE; usage shows every default', (t) => {
  const specs = {
    n: { type: 'string', help: 'a number', default: '3' },
    m: { type: 'string', help: 'needed', required: true },
    ...COMMON_FLAGS,
  };
  t.deepEqual(parseFlags(['--json'], specs, 'x'), { json: true });
  t.deepEqual(parseFlags(['--json', '--n', '4'], specs, 'x'), { json: true, n: '4' });
  t.deepEqual(parseFlags(['--json', 'out.json', '--quiet'], specs, 'x'), { json: 'out.json', quiet: true });
  t.deepEqual(parseFlags(['--json=o.json'], specs, 'x'), { json: 'o.json' });
  t.throws(() => parseFlags(['--quiet=1'], specs, 'x'), { instanceOf: UsageError, message: /--quiet takes no value/ });
  const text = usage('x', '[options]', specs);
  t.regex(text, /--n VALUE +a number \(default: 3\)/);
  t.regex(text, /--m VALUE +needed \(required\)/);
  t.regex(text, /--json \[FILE\] .*\(default: off\)/);
  t.regex(text, /--quiet .*\(default: off\)/);
});

test('commandOutput: bare --json keeps stdout for the JSON document alone', (t) => {
  const lines = [];
  const errors = [];
  const write = process.stderr.write;
  process.stderr.write = (s) => (errors.push(String(s)), true);
  try {
    const out = commandOutput({ json: true }, (s) => lines.push(s));
    out.say('human text');
    out.result({ a: 1 });
    t.deepEqual(JSON.parse(lines.join('\n')), { a: 1 });
    t.is(errors.join(''), 'human text\n');
    const file = path.join(tmp, 'r.json');
    const toFile = commandOutput({ json: file }, (s) => lines.push(`stdout ${s}`));
    toFile.say('text');
    toFile.result({ b: [2] });
    t.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), { b: [2] });
    t.is(lines.at(-1), 'stdout text');
    commandOutput({}, () => t.fail()).result({ c: 3 }); // no --json: no result anywhere
  } finally {
    process.stderr.write = write;
  }
});

test('lkvit --help lists every command; each command --help shows defaults', async (t) => {
  const r = await run(['--help']);
  t.is(r.code, 0);
  for (const name of Object.keys(COMMANDS)) t.regex(r.out, new RegExp(`^  ${name} `, 'm'));
  for (const command of Object.keys(COMMANDS).filter((c) => c !== 'help' && c !== 'models' && c !== 'info')) {
    const h = await run([command, '--help']);
    t.is(h.code, 0);
    // Every flag line of every command carries its default (or says it is required).
    const flagLines = h.out.split('\n').filter((l) => /^ {2}--/.test(l) && !/^ {2}--help /.test(l));
    t.true(flagLines.length >= 3, command);
    for (const line of flagLines) t.regex(line, /\((default: .+|required)\)$/, line);
    const viaHelp = await run(['help', command]);
    t.is(viaHelp.out, h.out);
  }
  // models and info take only the common flags, each shown with its default.
  for (const command of ['models', 'info']) {
    const h = await run([command, '--help']);
    t.is(h.code, 0);
    for (const line of h.out.split('\n').filter((l) => /^ {2}--/.test(l) && !/^ {2}--help /.test(l)))
      t.regex(line, /\((default: .+|required)\)$/, line);
  }
  const none = await run([]);
  t.is(none.code, 2);
  t.regex(none.err, /^usage: lkvit <command>/);
});

test('exit codes: usage errors and missing files are 2, failures while running 1', (t) => {
  t.is(exitCodeOf(new UsageError('x')), 2);
  t.is(exitCodeOf(Object.assign(new Error('open'), { code: 'ENOENT' })), 2);
  t.is(exitCodeOf(new RangeError('a kernel failed')), 1);
  t.is(exitCodeOf('thrown string'), 1);
});

test('models --json prints the registry as JSON', async (t) => {
  const r = await run(['models', '--json']);
  t.is(r.code, 0);
  const list = JSON.parse(r.out);
  t.deepEqual(
    list.map((m) => m.name),
    lk.listModels().map((m) => m.name),
  );
  t.is((await run(['models', '--jsn'])).code, 2);
});

test.serial('predict --json prints one JSON document on stdout, the text goes to stderr', async (t) => {
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
    '--json',
    '--quiet',
  ]);
  t.is(r.code, 0, r.err);
  const result = JSON.parse(r.out);
  t.is(result.model, 'resnet50');
  t.is(result.inputs, io.tensors.get('x').shape[0]);
  t.deepEqual(result.logitsShape, lk.readSafetensors(out).tensors.get('logits').shape);
  t.regex(r.err, /input\(s\) in .* images\/s/);
});

test.serial('bench dwconv --json: one median per kernel, no PyTorch with --no-torch', async (t) => {
  const r = await run([
    'bench',
    'dwconv',
    '--kernels',
    '3,5',
    '--shape',
    '1,8,16,16',
    '--reps',
    '2',
    '--no-torch',
    '--json',
  ]);
  t.is(r.code, 0, r.err);
  const result = JSON.parse(r.out);
  t.is(result.benchmark, 'dwconv');
  t.is(result.torch, null);
  t.regex(result.note, /--no-torch/);
  t.deepEqual(
    result.rows.map((row) => row.case.kernel),
    [3, 5],
  );
  for (const row of result.rows) {
    t.deepEqual(row.case.shape, [1, 8, 16, 16]);
    t.true(row.lkvit.fwd_ms > 0 && row.lkvit.fwd_ms < 1000);
    t.true(row.lkvit.fwd_bwd_ms > 0);
    t.is(row.torch, undefined);
  }
  // The table goes to stderr with a bare --json, with a row per kernel.
  t.regex(r.err, /^kernel 3, shape 1x8x16x16 +\d/m);
  t.regex(r.err, /^kernel 5, shape 1x8x16x16 +\d/m);
});

test.serial('bench attention and model print a table; --json FILE writes the same rows', async (t) => {
  const file = path.join(tmp, 'attn.json');
  const r = await run([
    'bench',
    'attention',
    '--shape',
    '1,2,9,8',
    '--reps',
    '1',
    '--no-torch',
    '--threads',
    '1',
    '--json',
    file,
  ]);
  t.is(r.code, 0, r.err);
  t.regex(r.out, /bench attention: 1 thread\(s\), median of 1 runs/);
  t.regex(r.out, /^shape 1x2x9x8 +\d/m);
  const saved = JSON.parse(fs.readFileSync(file, 'utf8'));
  t.deepEqual(saved.rows[0].case.shape, [1, 2, 9, 8]);
  const m = await run([
    'bench',
    'model',
    'vit_ti16',
    '--image-size',
    '32',
    '--config',
    '{"patchSize":16,"depth":1}',
    '--reps',
    '1',
    '--no-torch',
    '--json',
  ]);
  t.is(m.code, 0, m.err);
  const row = JSON.parse(m.out).rows[0];
  t.deepEqual(row.case.config, { patchSize: 16, depth: 1, imageSize: 32 });
  t.true(row.lkvit.fwd_ms > 0 && row.lkvit.fwd_bwd_ms > 0);
});

test.serial('bench: bad command lines exit 2 with one line', async (t) => {
  const cases = [
    [['bench', 'gemm'], /unknown benchmark 'gemm'/],
    [
      ['bench', 'dwconv', '--kernels', '3,-5'],
      /--kernels must be one or more comma-separated positive integers, got '3,-5'/,
    ],
    [['bench', 'dwconv', '--kernels', '4'], /--kernels must be odd/],
    [['bench', 'dwconv', '--shape', '1,8,16'], /--shape must be 4 comma-separated positive integers/],
    [['bench', 'dwconv', '--reps', '0'], /--reps must be an integer >= 1/],
    [['bench', 'attention', '--kernels', '3'], /--kernels does not apply to 'bench attention'/],
    [['bench', 'model'], /'bench model' needs a model name/],
    [['bench', 'model', 'resnet5'], /--model 'resnet5' is not a model/],
    [
      ['bench', 'model', 'resnet50', '--config', '{"kernelSizes":[3]}'],
      /--config has unknown option\(s\) kernelSizes for resnet50/,
    ],
    [
      ['bench', 'model', 'vit_ti16', '--reparam', '--image-size', '32', '--config', '{"depth":1}', '--no-torch'],
      /--reparam applies to RepLKNet models/,
    ],
    [['bench', 'dwconv', '--kernel', '3'], /unknown flag --kernel/],
  ];
  for (const [argv, message] of cases) {
    const r = await run(argv);
    t.is(r.code, 2, argv.join(' '));
    t.regex(r.err, message);
    t.is(r.err.trim().split('\n').length, 1, r.err);
  }
});

const torchPython = (() => {
  const py = process.env.LKVIT_PYTHON || '/usr/bin/python3';
  return spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0 ? py : null;
})();

(torchPython ? test.serial : test.skip)('bench dwconv with PyTorch: its column and the ratio', async (t) => {
  const r = await run([
    'bench',
    'dwconv',
    '--kernels',
    '3',
    '--shape',
    '1,4,12,12',
    '--reps',
    '1',
    '--threads',
    '1',
    '--json',
  ]);
  t.is(r.code, 0, r.err);
  const result = JSON.parse(r.out);
  t.regex(result.torch.version, /^\d+\.\d+/);
  const [row] = result.rows;
  t.true(['nchw', 'channels_last'].includes(row.torch.layout));
  t.true(row.torch.fwd_ms > 0);
  t.true(Math.abs(row.speedup.fwd - row.torch.fwd_ms / row.lkvit.fwd_ms) < 1e-9);
  t.regex(r.err, /speed-up fwd/);
});
