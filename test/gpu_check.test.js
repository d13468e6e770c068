// The GPU check's dry run (bash bench/gpu/run.sh --emulated): the same script that runs on a GPU,
// on the emulated backend with tiny shapes, into a temporary folder. Checks what it wrote: every
// step passed and is timed, the summary names the emulated backend and says the PyTorch ratio is no
// GPU ratio, every case of bench/gpu/cases.js has its row in its section's table and JSON with
// finite, positive times and FLOP rates (recomputed here from the depthwise geometry), and the
// case list the GPU run would use has the shapes the issue asks for.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const test = require('ava');
const { gpuCases, rowsOf } = require('../bench/gpu/cases');

const root = path.join(__dirname, '..');
const SECTIONS = ['dwconv', 'attention', 'models'];

// Useful taps of a K x K, stride-1 depthwise conv on an H x W map, padding p: the taps that meet
// the image, counted one output at a time (independent of src/perf/flops.ts).
function usefulTaps(H, W, K, p) {
  let n = 0;
  for (let oy = 0; oy < H; oy++)
    for (let ox = 0; ox < W; ox++)
      for (let ky = 0; ky < K; ky++)
        for (let kx = 0; kx < K; kx++) {
          const y = oy - p + ky,
            x = ox - p + kx;
          if (y >= 0 && y < H && x >= 0 && x < W) n++;
        }
  return n;
}

let run;
test.before(() => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'lkvit-gpu-check-'));
  const t0 = Date.now();
  const r = spawnSync('bash', [path.join(root, 'bench', 'gpu', 'run.sh'), '--emulated'], {
    cwd: os.tmpdir(), // the script finds the repository itself
    env: { ...process.env, OUT: out },
    encoding: 'utf8',
    timeout: 240_000,
  });
  run = { out, r, seconds: (Date.now() - t0) / 1e3 };
});

test.after.always(() => {
  if (run) fs.rmSync(run.out, { recursive: true, force: true });
});

test.serial('the dry run exits 0 with every step passed and timed', (t) => {
  const { r, out, seconds } = run;
  t.log(`dry run: ${seconds.toFixed(1)} s`);
  t.is(r.status, 0, `run.sh --emulated exited ${r.status}:\n${(r.stdout || '').slice(-3000)}\n${r.stderr}`);
  t.deepEqual(
    fs.readdirSync(out).sort(),
    [
      'attention.json',
      'attention.md',
      'check.log',
      'dwconv.json',
      'dwconv.md',
      'models.json',
      'models.md',
      'summary.md',
    ],
    'eight files: what a device call brings back at most',
  );
  const summary = fs.readFileSync(path.join(out, 'summary.md'), 'utf8');
  const steps = summary.split('\n').filter((l) => /^\| [a-e] \|/.test(l));
  t.deepEqual(
    steps.map((l) => l.split('|')[1].trim()),
    ['a', 'b', 'c', 'd', 'e', 'e', 'e'],
    'the steps in order',
  );
  for (const l of steps) {
    const cells = l.split('|').map((c) => c.trim());
    t.is(cells[3], 'passed', l);
    t.true(Number(cells[4]) >= 0 && Number.isFinite(Number(cells[4])), `wall time of ${l}`);
  }
  t.regex(summary, /All steps passed \(exit code 0\)/);
  t.regex(summary, /cuda: cuda-emulated on SIMT emulation/, 'lkvit info names the emulated backend');
  t.regex(summary, /nvcc and cuobjdump skipped/);
  const log = fs.readFileSync(path.join(out, 'check.log'), 'utf8');
  t.regex(log, /compute-sanitizer memcheck: skipped \(emulated dry run\)/);
  t.regex(
    log,
    /sanitize: (\d+) of \1 CUDA functions called on cuda-emulated/,
    'sanitize.js reached every CUDA function',
  );
  t.regex(log, /1 test passed/, 'the device test ran through ava');
});

test.serial('every case has its row, with finite positive times and FLOP rates', (t) => {
  const { out } = run;
  const cases = gpuCases({ emulated: true });
  const want = rowsOf(cases);
  t.is(
    want.length,
    2 * 3 + 2 + 3,
    'two depthwise kernels x three passes, attention forward and backward, three model rows',
  );
  for (const section of SECTIONS) {
    const doc = JSON.parse(fs.readFileSync(path.join(out, `${section}.json`), 'utf8'));
    const md = fs.readFileSync(path.join(out, `${section}.md`), 'utf8');
    t.is(doc.mode, 'emulated');
    t.is(doc.lkvit.backend, 'cuda-emulated');
    t.is(doc.peak_gflops, null, 'no FP32 peak for the emulation');
    const keys = want.filter((w) => w.c.section === section).map((w) => w.key);
    t.deepEqual(
      doc.rows.map((r) => r.key),
      keys,
      `${section}: one row per case and pass, in order`,
    );
    const tableRows = md
      .split('\n')
      .filter((l) => l.startsWith('| ') && !l.startsWith('| case') && !l.startsWith('|---'));
    t.is(tableRows.length, keys.length, `${section}.md has a table row per case`);
    for (const row of doc.rows) {
      for (const k of ['lkvit_ms', 'lkvit_min_ms', 'lkvit_max_ms', 'gflops', 'useful_gflops'])
        t.true(Number.isFinite(row[k]) && row[k] > 0, `${row.key}: ${k} = ${row[k]}`);
      t.true(row.lkvit_min_ms <= row.lkvit_ms && row.lkvit_ms <= row.lkvit_max_ms, `${row.key}: min <= median <= max`);
      t.is(row.lkvit_reps, 3);
      t.is(row.useful_peak_pct, null);
      if (doc.torch.device) {
        t.true(
          Number.isFinite(row.torch_ms) && row.torch_ms > 0,
          `${row.key}: PyTorch ms ${row.torch_ms} (${row.torch_error})`,
        );
        t.true(Math.abs(row.speedup - row.torch_ms / row.lkvit_ms) < 1e-9 * row.speedup, `${row.key}: speed-up`);
      }
      if (row.key.startsWith('dw-')) {
        const c = want.find((w) => w.key === row.key).c;
        const fwd = (2 * c.N * c.C * usefulTaps(c.H, c.W, c.K, c.padding)) / 1e9;
        const passes = { fwd: 1, fwd_bwd_input: 2, fwd_bwd_all: 3 }[row.key.split('/')[1]];
        t.true(
          Math.abs(row.useful_gflop - passes * fwd) <= 1e-12,
          `${row.key}: useful GFLOP ${row.useful_gflop}, want ${passes * fwd}`,
        );
        t.true(
          Math.abs(row.gflop - (passes * 2 * c.N * c.C * c.H * c.W * c.K * c.K) / 1e9) <= 1e-12,
          `${row.key}: conventional GFLOP`,
        );
      }
    }
    if (doc.torch.device) t.regex(md, /it is not a GPU ratio/);
  }
});

test('the GPU case list: the K sweep at [64, 256, 28, 28], RepLKNet-31B stages, ViT-B/16 attention, batch-64 models, a batch-32 PGD step', (t) => {
  const c = gpuCases();
  t.is(c.mode, 'gpu');
  t.true(c.reps >= 10);
  const sweep = c.sections.dwconv.filter((x) => x.id.startsWith('dw-sweep'));
  t.deepEqual(
    sweep.map((x) => x.K),
    [3, 5, 7, 9, 13, 17, 21, 27, 31, 41, 51],
  );
  t.true(sweep.every((x) => x.N === 64 && x.C === 256 && x.H === 28 && x.W === 28 && x.padding === (x.K - 1) / 2));
  t.deepEqual(
    c.sections.dwconv.filter((x) => x.id.startsWith('dw-stage')).map((x) => [x.C, x.H, x.K]),
    [
      [128, 56, 31],
      [256, 28, 29],
      [512, 14, 27],
      [1024, 7, 13],
    ],
  );
  t.like(c.sections.attention[0], { B: 64, H: 12, T: 197, d: 64 });
  t.deepEqual(
    c.sections.models.map((m) => [m.name, m.passes[0], m.batch, m.size]),
    [
      ['replknet31b', 'forward', 64, 224],
      ['vit_b16', 'forward', 64, 224],
      ['replknet31b', 'pgd_step', 32, 224],
    ],
  );
  t.true(
    c.sections.models.every((m) => Object.keys(m.config).length === 0),
    'the full models, no overrides',
  );
  t.is(new Set(rowsOf(c).map((r) => r.key)).size, rowsOf(c).length, 'row keys are unique');
});

test('a spent budget skips every step and the exit code names them all; a bad argument is refused', (t) => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'lkvit-gpu-check-none-'));
  try {
    const r = spawnSync('bash', [path.join(root, 'bench', 'gpu', 'run.sh'), '--emulated'], {
      env: { ...process.env, OUT: out, LKVIT_GPU_CHECK_BUDGET_S: '0' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    t.is(r.status, 1 + 2 + 4 + 8 + 16, r.stdout);
    const summary = fs.readFileSync(path.join(out, 'summary.md'), 'utf8');
    t.is((summary.match(/skipped: out of time/g) || []).length, 6, 'a, b, c, d and both benchmark sides skipped');
    t.regex(summary, /Exit code 31: failed steps: a b c d e\./);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
  const bad = spawnSync('bash', [path.join(root, 'bench', 'gpu', 'run.sh'), '--emulate'], { encoding: 'utf8' });
  t.is(bad.status, 98);
  t.regex(bad.stderr, /run\.sh: unknown argument '--emulate' \(expected --emulated or --out DIR\)/);
});
