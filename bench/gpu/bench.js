// The GPU benchmark, lkvit's side, and the report that puts PyTorch's side beside it.
//   node bench/gpu/bench.js cases [--emulated] > cases.json        the case list (bench/gpu/cases.js)
//   node --expose-gc bench/gpu/bench.js run cases.json rows.jsonl [--budget-s S]
//   node bench/gpu/bench.js report cases.json rows.jsonl torch.jsonl OUTDIR [--clock-mhz M]
// `run` times every case on lkvit's CUDA backend (the emulated one under LKVIT_CUDA_EMULATED=1):
// inputs made on the device once, a warm-up, then `reps` runs, each between two
// lk.cuda.synchronize() calls on the host clock (bench/gpu/torch_bench.py times PyTorch the same
// way), appending one JSON line per (case, pass) as soon as it is measured, so a run cut short keeps
// what it did. FLOPs are counted once per case by wrapping the CUDA addon's functions with the
// profiler's counters (src/perf/flops.ts): conventional, and useful (taps that meet the image).
// `report` writes OUTDIR/<section>.md and .json for each section: lkvit's median, PyTorch's best
// variant, the speed-up, GFLOP/s and % of the card's FP32 FMA peak (SMs x 128 lanes x 2 x max clock).
'use strict';
const fs = require('fs');
const path = require('path');
const { gpuCases, rowsOf } = require('./cases');

const args = process.argv.slice(2);
const flag = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : def;
};

// ---- lkvit's side

function timeCase(lk, fn, reps, { budgetMs = 1500, gc = false } = {}) {
  const sync = () => lk.cuda.synchronize();
  const once = () => {
    if (gc && global.gc) global.gc();
    sync();
    const t0 = process.hrtime.bigint();
    fn();
    sync();
    return Number(process.hrtime.bigint() - t0) / 1e6;
  };
  // Warm-up: twice, and for at least 0.2 s (the allocator's cache fills, cuBLAS loads).
  const warmEnd = Date.now() + 200;
  let first = once();
  for (let i = 1; i < 2 || Date.now() < warmEnd; i++) first = Math.min(first, once());
  // `reps` runs; fewer (at least 5) only when a call is so slow that they would pass the budget (the
  // table then gives the count).
  const n = Math.max(Math.min(5, reps), Math.min(reps, Math.floor(budgetMs / Math.max(first, 1e-3))));
  const times = [];
  for (let i = 0; i < n; i++) times.push(once());
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)], min_ms: times[0], max_ms: times[times.length - 1], reps: n };
}

// Counts the FLOPs of one call of fn through the CUDA addon (the profiler wraps the CPU addon only).
function countFlops(lk, fn) {
  const { flopsOf } = require('../../lib/perf/flops');
  const addon = lk.cuda.nativeCuda();
  const saved = {};
  const total = { conventional: 0, useful: 0 };
  for (const [name, f] of Object.entries(addon)) {
    if (typeof f !== 'function' || name === 'DeviceArray') continue;
    saved[name] = f;
    addon[name] = (...a) => {
      const c = flopsOf(name, a);
      total.conventional += c.conventional;
      total.useful += c.useful;
      return f(...a);
    };
  }
  try {
    fn();
    lk.cuda.synchronize();
  } finally {
    Object.assign(addon, saved);
  }
  return { gflop: total.conventional / 1e9, useful_gflop: total.useful / 1e9 };
}

function randomDevice(lk, shape, requiresGrad = false, lo = -1, hi = 1) {
  const n = shape.reduce((p, q) => p * q, 1);
  const data = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = lo + ((hi - lo) * s) / 4294967296;
  }
  return lk.tensor(data, shape, { device: 'cuda', requiresGrad });
}

// The timed function of each (case, pass), set up on the device; `done()` frees what setup made.
function setup(lk, c, pass) {
  const free = [];
  const keep = (t) => (free.push(t), t);
  const done = () => free.forEach((t) => t.dispose());
  const dropGrads = (...ts) => ts.forEach((t) => t.grad && (t.grad.dispose(), (t.grad = null)));
  if (c.kind === 'dwconv') {
    const opts = { padding: c.padding };
    const x = keep(randomDevice(lk, [c.N, c.C, c.H, c.W], pass !== 'fwd'));
    const w = keep(randomDevice(lk, [c.C, 1, c.K, c.K], pass === 'fwd_bwd_all', -0.05, 0.05));
    if (pass === 'fwd') return { fn: () => lk.noGrad(() => lk.ops.depthwiseConv2d(x, w, opts)).dispose(), done };
    const ones = keep(lk.full([c.N, c.C, c.H, c.W], 1, { device: 'cuda' }));
    return {
      fn: () => {
        const y = lk.ops.depthwiseConv2d(x, w, opts);
        y.backward(ones);
        y.dispose();
        dropGrads(x, w);
      },
      done,
    };
  }
  if (c.kind === 'attention') {
    const shape = [c.B, c.H, c.T, c.d];
    const [q, k, v] = [0, 1, 2].map(() => keep(randomDevice(lk, shape, pass !== 'fwd')));
    if (pass === 'fwd') return { fn: () => lk.noGrad(() => lk.ops.attention(q, k, v)).dispose(), done };
    const ones = keep(lk.full(shape, 1, { device: 'cuda' }));
    return {
      fn: () => {
        const o = lk.ops.attention(q, k, v);
        o.backward(ones);
        o.dispose();
        dropGrads(q, k, v);
      },
      done,
    };
  }
  // Whole models: random (seeded) weights, eval mode, weights frozen, inputs in [0, 1).
  lk.manualSeed(1);
  const model = lk.createModel(c.name, c.config).to('cuda').eval();
  model.setRequiresGrad(false);
  const x0 = keep(randomDevice(lk, [c.batch, 3, c.size, c.size], false, 0, 1));
  const modelDone = () => {
    done();
    model.to('cpu');
  };
  if (pass === 'forward')
    return { fn: () => lk.noGrad(() => model.forward(x0)).dispose(), done: modelDone, model: true };
  // One PGD step (L-inf): forward, the summed cross-entropy's input gradient, the step.
  const labels = Array.from({ length: c.batch }, (_, i) => (i * 37) % model.numClasses);
  return {
    fn: () => {
      const xa = x0.detach();
      xa.requiresGrad = true;
      lk.ops.crossEntropy(model.forward(xa), labels, { reduction: 'sum' }).backward();
      const next = lk.ops.pgdStep(xa, xa.grad, { x0, eps: c.eps, alpha: c.alpha });
      xa.grad.dispose();
      next.dispose();
    },
    done: modelDone,
    model: true,
  };
}

async function run(casesFile, outFile) {
  const lk = require('../..');
  const cases = JSON.parse(fs.readFileSync(casesFile, 'utf8'));
  const info = lk.cuda.info();
  if (!info.available) throw new Error(`bench/gpu/bench.js: CUDA is not available: ${info.reason}`);
  const deadline = Date.now() + 1000 * Number(flag('budget-s', '1e9'));
  const write = (row) => fs.appendFileSync(outFile, JSON.stringify(row) + '\n');
  write({ kind: 'info', ...info, gemm: lk.cuda.nativeCuda().info().gemm, node: process.version });
  for (const { c, pass, key } of rowsOf(cases)) {
    if (Date.now() > deadline) {
      write({ key, skipped: 'out of time' });
      continue;
    }
    const t0 = Date.now();
    try {
      const s = setup(lk, c, pass);
      try {
        const flops = countFlops(lk, s.fn);
        const t = timeCase(lk, s.fn, cases.reps, { gc: s.model, budgetMs: c.kind === 'model' ? 20000 : 1500 });
        write({ key, ...t, ...flops, wall_s: (Date.now() - t0) / 1e3 });
        console.error(
          `lkvit ${key}: ${t.ms.toFixed(3)} ms (${t.min_ms.toFixed(3)}-${t.max_ms.toFixed(3)}, ${t.reps} runs)`,
        );
      } finally {
        s.done();
      }
    } catch (e) {
      write({ key, error: String(e && e.stack ? e.stack : e) });
      console.error(`lkvit ${key}: ${e && e.stack ? e.stack : e}`);
    }
    if (global.gc) global.gc();
  }
}

// ---- the report

const readJsonl = (file) =>
  fs.existsSync(file)
    ? fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l))
    : [];
const fmt = (v, digits = 3) =>
  Number.isFinite(v) ? (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toPrecision(digits)) : '—';

function caseLabel(c, pass) {
  const passName = {
    fwd: 'forward',
    fwd_bwd_input: 'fwd + input grad',
    fwd_bwd_all: 'fwd + input and weight grads',
    fwd_bwd: 'forward + backward',
    forward: 'forward',
    pgd_step: 'one PGD step (fwd + input grad + step)',
  }[pass];
  if (c.kind === 'dwconv') return [`${c.K}×${c.K} depthwise (${c.N}, ${c.C}, ${c.H}×${c.W})`, passName];
  if (c.kind === 'attention') return [`attention (B ${c.B}, heads ${c.H}, T ${c.T}, d ${c.d})`, passName];
  return [`${c.name}${Object.keys(c.config).length ? ' (tiny config)' : ''}, batch ${c.batch}, ${c.size}²`, passName];
}

function report(casesFile, lkFile, torchFile, outDir) {
  const cases = JSON.parse(fs.readFileSync(casesFile, 'utf8'));
  const lkRows = readJsonl(lkFile);
  const torchRows = readJsonl(torchFile);
  const lkInfo = lkRows.find((r) => r.kind === 'info') || {};
  const torchInfo = torchRows.find((r) => r.kind === 'info') || {};
  const byKey = (rows) => new Map(rows.filter((r) => r.key).map((r) => [r.key, r]));
  const ours = byKey(lkRows),
    theirs = byKey(torchRows);
  const emulated = cases.mode === 'emulated';
  const clockMhz = Number(flag('clock-mhz', '')) || torchInfo.clock_mhz || null;
  const sms = Number(process.env.LKVIT_GPU_SMS) || torchInfo.sms || null;
  // FP32 FMA peak: SMs x 128 FP32 lanes x 2 FLOPs x the max SM clock (66.9 TFLOP/s on an H100 SXM).
  const peakGflops = !emulated && sms && clockMhz ? (sms * 128 * 2 * clockMhz) / 1e3 : null;
  const torchWhere = torchInfo.device ? `PyTorch ${torchInfo.torch} on ${torchInfo.device}` : 'PyTorch not run';
  const header = [
    `backend: ${lkInfo.backend || 'none'}${lkInfo.device ? ` (${lkInfo.device})` : ''}; gemm: ${lkInfo.gemm || '?'}; ${torchWhere}`,
    peakGflops
      ? `FP32 FMA peak: ${sms} SMs × 128 lanes × 2 × ${clockMhz} MHz = ${(peakGflops / 1e3).toFixed(1)} TFLOP/s`
      : `FP32 FMA peak: not applicable (${emulated ? 'the emulation runs on the CPU: its times judge the script, not the kernels' : 'SM count or clock unknown'})`,
    emulated && torchInfo.device && torchInfo.device !== 'cuda'
      ? `The speed-up column compares the SIMT emulation with PyTorch on the ${torchInfo.device}: it is not a GPU ratio.`
      : 'Times: medians (min–max) of the runs, each between two device synchronisations on the host clock, after a warm-up; TF32 off in PyTorch.',
  ];
  fs.mkdirSync(outDir, { recursive: true });
  const summary = {};
  for (const [section, list] of Object.entries(cases.sections)) {
    const rows = [];
    for (const c of list)
      for (const pass of c.passes) {
        const key = `${c.id}/${pass}`;
        const o = ours.get(key) || {},
          p = theirs.get(key) || {};
        const best = p.variants
          ? Object.entries(p.variants)
              .filter(([, v]) => Number.isFinite(v.ms))
              .sort((a, b) => a[1].ms - b[1].ms)[0]
          : null;
        const gflops = Number.isFinite(o.ms) ? (o.gflop * 1e3) / o.ms : NaN;
        const useful = Number.isFinite(o.ms) ? (o.useful_gflop * 1e3) / o.ms : NaN;
        const batch = c.kind === 'model' ? c.batch : null;
        rows.push({
          key,
          section,
          case: caseLabel(c, pass)[0],
          pass: caseLabel(c, pass)[1],
          lkvit_ms: o.ms ?? null,
          lkvit_min_ms: o.min_ms ?? null,
          lkvit_max_ms: o.max_ms ?? null,
          lkvit_reps: o.reps ?? null,
          lkvit_error: o.error || o.skipped || (o.ms === undefined ? 'not measured' : null),
          torch_ms: best ? best[1].ms : null,
          torch_variant: best ? best[0] : null,
          torch_variants: p.variants || null,
          torch_error: p.error || p.skipped || (best ? null : 'not measured'),
          speedup: best && Number.isFinite(o.ms) ? best[1].ms / o.ms : null,
          images_per_s: batch && Number.isFinite(o.ms) && pass === 'forward' ? (1e3 * batch) / o.ms : null,
          torch_images_per_s: batch && best && pass === 'forward' ? (1e3 * batch) / best[1].ms : null,
          gflop: o.gflop ?? null,
          useful_gflop: o.useful_gflop ?? null,
          gflops: Number.isFinite(gflops) ? gflops : null,
          useful_gflops: Number.isFinite(useful) ? useful : null,
          useful_peak_pct: peakGflops && Number.isFinite(useful) ? (100 * useful) / peakGflops : null,
        });
      }
    const md = [
      `# ${section}`,
      '',
      ...header.map((h) => `${h}  `),
      '',
      '| case | pass | lkvit ms (min–max) | PyTorch best ms (variant) | speed-up | useful GFLOP/s (conventional) | % of FP32 peak | img/s lkvit / PyTorch |',
      '|---|---|---|---|---|---|---|---|',
      ...rows.map((r) =>
        [
          r.case,
          r.pass,
          r.lkvit_ms != null
            ? `${fmt(r.lkvit_ms)} (${fmt(r.lkvit_min_ms)}–${fmt(r.lkvit_max_ms)}${r.lkvit_reps < cases.reps ? `, ${r.lkvit_reps} runs` : ''})`
            : `— (${r.lkvit_error})`,
          r.torch_ms != null
            ? `${fmt(r.torch_ms)} (${r.torch_variant}${r.torch_variants[r.torch_variant].reps < cases.reps ? `, ${r.torch_variants[r.torch_variant].reps} runs` : ''})`
            : `— (${r.torch_error})`,
          r.speedup != null ? `${r.speedup.toFixed(2)}×` : '—',
          r.useful_gflops != null ? `${fmt(r.useful_gflops)} (${fmt(r.gflops)})` : '—',
          r.useful_peak_pct != null ? `${r.useful_peak_pct.toFixed(1)}%` : '—',
          r.images_per_s != null ? `${fmt(r.images_per_s)} / ${fmt(r.torch_images_per_s)}` : '',
        ]
          .join(' | ')
          .replace(/^/, '| ')
          .replace(/$/, ' |'),
      ),
      '',
    ].join('\n');
    fs.writeFileSync(path.join(outDir, `${section}.md`), md);
    const doc = { section, mode: cases.mode, header, lkvit: lkInfo, torch: torchInfo, peak_gflops: peakGflops, rows };
    fs.writeFileSync(path.join(outDir, `${section}.json`), JSON.stringify(doc, null, 1) + '\n');
    summary[section] = rows;
  }
  const missing = Object.values(summary)
    .flat()
    .filter((r) => r.lkvit_ms == null);
  process.stdout.write(
    Object.keys(summary)
      .map((s) => fs.readFileSync(path.join(outDir, `${s}.md`), 'utf8'))
      .join('\n'),
  );
  if (missing.length) {
    const some = missing
      .slice(0, 5)
      .map((r) => r.key)
      .join(', ');
    console.error(`report: ${missing.length} rows without an lkvit time (${some}${missing.length > 5 ? ', ...' : ''})`);
    process.exitCode = 1;
  }
}

async function main() {
  const valued = new Set(['--budget-s', '--clock-mhz']);
  const [cmd, ...rest] = args.filter((a, i) => !a.startsWith('--') && !valued.has(args[i - 1]));
  if (cmd === 'cases')
    process.stdout.write(JSON.stringify(gpuCases({ emulated: args.includes('--emulated') }), null, 1) + '\n');
  else if (cmd === 'run' && rest.length === 2) await run(rest[0], rest[1]);
  else if (cmd === 'report' && rest.length === 4) report(...rest);
  else {
    console.error(
      'usage: node bench/gpu/bench.js cases [--emulated] | run CASES ROWS [--budget-s S] | report CASES ROWS TORCH OUTDIR [--clock-mhz M]',
    );
    process.exitCode = 2;
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
