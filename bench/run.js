#!/usr/bin/env node
// `npm run bench`: lkvit's kernels side by side with PyTorch on this machine, in one run.
// Each depthwise case is timed in lkvit, in PyTorch (a persistent bench/torch_peer.py process), and
// again in both, each side keeping the better of its two medians, so the ratio compares
// measurements taken seconds apart.
//
//   npm run bench                      full sweep (about 20 minutes on 2 cores)
//   npm run bench -- --quick           a few headline cases
//   npm run bench -- --only dwconv     sections (comma-separated): dwconv, attention, gemm, conv, pointwise, models, attacks, train
//   options: --threads N (default 2)  --reps N  --no-torch  --json FILE (default bench/results/latest.json)
//            --refresh-peak (measure the machine's FMA peak and bandwidth again instead of reading the cache)
//            --kernels 3,31  --shapes 1x128x56,8x128x56 (N x C x H, square maps) for the dwconv section
'use strict';
const fs = require('fs');
const path = require('path');
const { startPeer } = require('./peer');
const { PASS_FIELDS } = require('./timing');
const lk = require('..');
const { machineLine } = require('../lib/perf');

function parseArgs(argv) {
  const a = {
    threads: 2,
    reps: 0,
    quick: false,
    torch: true,
    refreshPeak: false,
    only: null,
    kernels: null,
    shapes: null,
    json: path.join(__dirname, 'results', 'latest.json'),
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`bench: ${k} needs a value`);
      return argv[++i];
    };
    if (k === '--threads') a.threads = Number(val());
    else if (k === '--reps') a.reps = Number(val());
    else if (k === '--quick') a.quick = true;
    else if (k === '--no-torch') a.torch = false;
    else if (k === '--refresh-peak') a.refreshPeak = true;
    else if (k === '--only') a.only = val().split(',');
    else if (k === '--json') a.json = val();
    else if (k === '--kernels') a.kernels = val().split(',').map(Number);
    else if (k === '--shapes') a.shapes = val().split(',');
    else throw new Error(`bench: unknown option ${k} (see the header of bench/run.js)`);
  }
  if (!Number.isInteger(a.threads) || a.threads < 1) throw new Error('bench: --threads must be a positive integer');
  return a;
}

// The better of two measurements of a row, pass by pass: the one with the smaller median time
// ('fwd_ms', ..., also inside nested layouts) gives all of that pass's fields (range, GFLOP/s, %).
function betterOf(a, b) {
  const out = {};
  for (const [k, v] of Object.entries(a)) {
    if (k in out) continue;
    if (typeof v === 'number' && (k === 'ms' || k.endsWith('_ms')) && !k.endsWith('range_ms')) {
      const prefix = k.slice(0, -'ms'.length); // 'fwd_', or '' for a bare 'ms'
      const winner = b[k] < v ? b : a;
      for (const f of PASS_FIELDS) if (prefix + f in winner) out[prefix + f] = winner[prefix + f];
    } else if (v && typeof v === 'object' && !Array.isArray(v)) out[k] = betterOf(v, b[k]);
    else out[k] = v;
  }
  return out;
}

const fmt = (v, d = 2) =>
  v === undefined || v === null || Number.isNaN(v) ? '—' : v >= 100 ? v.toFixed(0) : v.toFixed(d);
const ratio = (torchMs, lkMs) => (torchMs && lkMs ? `${(torchMs / lkMs).toFixed(2)}×` : '—');
const pct = (v) => (v === undefined || v === null || Number.isNaN(v) ? '—' : `${v.toFixed(0)}%`);
const PEAK_NOTE =
  "GFLOP/s count every kernel tap (the conventional count); useful GFLOP/s only the taps that meet the input; % peak is of the machine's measured FP32 FMA peak (top line).";

async function dwconvSection(args, peer, out) {
  const { benchDwconv } = require('./dwconv');
  const kernels = args.kernels || (args.quick ? [3, 7, 13, 31, 51] : [3, 5, 7, 9, 13, 17, 21, 27, 29, 31, 41, 51]);
  const shapes =
    args.shapes || (args.quick ? ['1x128x56'] : ['1x128x56', '1x256x28', '1x512x14', '1x1024x7', '8x128x56']);
  // Sub-millisecond cases get more repetitions: their medians are the noisiest.
  const repsFor = (K) => args.reps || (K < 15 ? 21 : args.quick ? 5 : 9);
  console.log(
    `\n## Depthwise conv2d, stride 1, padding K//2 (${args.threads} threads; medians of ${repsFor(3)} runs for K < 15, ${repsFor(31)} above)\n`,
  );
  console.log(`${PEAK_NOTE} Here % peak is of the useful GFLOP/s.\n`);
  console.log(
    '| N, C, H=W, K | lkvit fwd ms | GFLOP/s | useful GFLOP/s | % peak | PyTorch best fwd ms | speed-up | lkvit fwd+bwd(x) ms | % peak | PyTorch best | speed-up | lkvit fwd+bwd(x,w) ms | % peak | PyTorch best | speed-up |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const shape of shapes) {
    const [N, C, H] = shape.split('x').map(Number);
    for (const K of kernels) {
      const reps = repsFor(K);
      const measure = async () =>
        (await benchDwconv({ kernels: [K], shapes: [shape], reps, threads: args.threads }))[0];
      const ask = () => peer.ask({ op: 'dwconv', N, C, H, W: H, K, reps, slow_bwd: K >= 15 });
      // Both sides twice, alternating (lkvit, PyTorch, lkvit, PyTorch), each keeping the better of
      // its two medians per column: a disturbance on this shared machine during one measurement
      // does not decide a row, and neither side gets a second chance the other lacks.
      let mine = await measure();
      let theirs = null;
      if (peer) {
        const first = await ask();
        mine = betterOf(mine, await measure());
        theirs = betterOf(first, await ask());
      }
      const best = (key) => (theirs ? Math.min(theirs.nchw[key], theirs.channels_last[key]) : null);
      const row = { N, C, H, W: H, K, lkvit: mine, torch: theirs };
      out.dwconv.push(row);
      console.log(
        `| ${N}, ${C}, ${H}, ${K} | ${fmt(mine.fwd_ms, 3)} | ${fmt(mine.fwd_gflops, 0)} | ${fmt(mine.fwd_useful_gflops, 0)} | ${pct(mine.fwd_useful_peak_pct)} ` +
          `| ${fmt(best('fwd_ms'), 3)} | ${ratio(best('fwd_ms'), mine.fwd_ms)} ` +
          `| ${fmt(mine.fwd_bwd_input_ms, 3)} | ${pct(mine.fwd_bwd_input_useful_peak_pct)} | ${fmt(best('fwd_bwd_input_ms'), 3)} | ${ratio(best('fwd_bwd_input_ms'), mine.fwd_bwd_input_ms)} ` +
          `| ${fmt(mine.fwd_bwd_all_ms, 3)} | ${pct(mine.fwd_bwd_all_useful_peak_pct)} | ${fmt(best('fwd_bwd_all_ms'), 3)} | ${ratio(best('fwd_bwd_all_ms'), mine.fwd_bwd_all_ms)} |`,
      );
    }
  }
}

async function attentionSection(args, peer, out) {
  const { benchAttention } = require('./attention');
  const reps = args.reps || 7;
  const rows = await benchAttention({ reps, threads: args.threads, quick: args.quick });
  console.log(`\n## Multi-head attention (${args.threads} threads, medians of ${reps})\n`);
  console.log(
    '| B, heads, T, d | lkvit fwd ms | GFLOP/s | % peak | PyTorch fwd ms | speed-up | lkvit fwd+bwd ms | GFLOP/s | % peak | PyTorch fwd+bwd ms | speed-up |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const theirs = peer ? await peer.ask({ op: 'attention', B: r.B, H: r.H, T: r.T, d: r.d, reps }) : null;
    out.attention.push({ ...r, torch: theirs });
    console.log(
      `| ${r.B}, ${r.H}, ${r.T}, ${r.d} | ${fmt(r.fwd_ms, 3)} | ${fmt(r.fwd_gflops, 0)} | ${pct(r.fwd_peak_pct)} | ${fmt(theirs?.fwd_ms, 3)} | ${ratio(theirs?.fwd_ms, r.fwd_ms)} ` +
        `| ${fmt(r.fwd_bwd_ms, 3)} | ${fmt(r.fwd_bwd_gflops, 0)} | ${pct(r.fwd_bwd_peak_pct)} | ${fmt(theirs?.fwd_bwd_ms, 3)} | ${ratio(theirs?.fwd_bwd_ms, r.fwd_bwd_ms)} |`,
    );
  }
}

async function gemmSection(args, peer, out) {
  const { benchGemm } = require('./gemm');
  const reps = args.reps || 7;
  const rows = await benchGemm({ reps, threads: args.threads, quick: args.quick });
  console.log(`\n## GEMM (${args.threads} threads, medians of ${reps})\n`);
  console.log('| case | M, N, K | lkvit ms | GFLOP/s | % peak | PyTorch ms | speed-up |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const theirs = peer && r.M ? await peer.ask({ op: 'matmul', kind: r.kind, M: r.M, N: r.N, K: r.K, reps }) : null;
    out.gemm.push({ ...r, torch: theirs });
    console.log(
      `| ${r.name} | ${r.M}, ${r.N}, ${r.K} | ${fmt(r.ms, 3)} | ${fmt(r.gflops, 0)} | ${pct(r.peak_pct)} | ${fmt(theirs?.ms, 3)} | ${ratio(theirs?.ms, r.ms)} |`,
    );
  }
}

async function convSection(args, peer, out) {
  const { benchConv } = require('./conv');
  const reps = args.reps || 7;
  const rows = await benchConv({ reps, threads: args.threads, quick: args.quick });
  console.log(
    `\n## Dense and grouped conv2d (${args.threads} threads, medians of ${reps}; backward rows time backward() alone)\n`,
  );
  console.log(`${PEAK_NOTE} Here % peak is of the useful GFLOP/s.\n`);
  console.log('| case | lkvit ms | GFLOP/s | useful GFLOP/s | % peak | PyTorch ms | speed-up |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const theirs = peer ? await peer.ask({ op: 'conv', ...r, reps }) : null;
    out.conv.push({ ...r, torch: theirs });
    console.log(
      `| ${r.name} | ${fmt(r.ms, 3)} | ${fmt(r.gflops, 0)} | ${fmt(r.useful_gflops, 0)} | ${pct(r.useful_peak_pct)} | ${fmt(theirs?.ms, 3)} | ${ratio(theirs?.ms, r.ms)} |`,
    );
  }
}

async function pointwiseSection(args, peer, out) {
  const { benchPointwise } = require('./conv');
  const reps = args.reps || 7;
  const rows = await benchPointwise({ reps, threads: args.threads, quick: args.quick });
  console.log(
    `\n## RepLKNet-31B's 1x1 convolutions (${args.threads} threads, medians of ${reps}; M = Cout, K = Cin, N = H*W per image; grad x times backward() alone)\n`,
  );
  console.log('| case | M, N, K | lkvit ms | GFLOP/s | % peak | PyTorch ms | speed-up |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const theirs = peer ? await peer.ask({ op: 'conv', ...r, reps }) : null;
    out.pointwise.push({ ...r, torch: theirs });
    const [M, K] = r.pass === 'fwd' ? [r.Cout, r.Cin] : [r.Cin, r.Cout];
    console.log(
      `| ${r.name} | ${M}, ${r.H * r.W}, ${K} | ${fmt(r.ms, 3)} | ${fmt(r.gflops, 0)} | ${pct(r.peak_pct)} | ${fmt(theirs?.ms, 3)} | ${ratio(theirs?.ms, r.ms)} |`,
    );
  }
}

async function modelsSection(args, peer, out) {
  const { benchModels } = require('./models');
  const reps = args.reps || 3;
  const batches = args.quick ? [1] : [1, 8];
  console.log(
    `\n## Whole models at 224x224 (${args.threads} threads, medians of ${reps}; images/s, higher is better)\n`,
  );
  console.log(
    'PyTorch runs the same architecture (bench/torch_models.py) in both memory layouts; the speed-up is against the faster one. ' +
      `${PEAK_NOTE} (RepLKNet-31B: 15.4 GMAC per image conventional, 14.1 useful; ViT-B/16: 17.6.)\n`,
  );
  console.log(
    '| model | form | batch | pass | lkvit img/s | GFLOP/s | % peak | useful % peak | PyTorch NCHW img/s | PyTorch channels-last img/s | speed-up |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  await benchModels({
    reps,
    threads: args.threads,
    batches,
    onCase: async (r) => {
      const layouts = r.name.startsWith('vit') ? ['nchw'] : ['nchw', 'channels_last'];
      const theirs = {};
      if (peer)
        for (const layout of layouts)
          theirs[layout] = await peer.ask({ op: 'model', name: r.name, form: r.form, N: r.batch, layout, reps });
      out.models.push({ ...r, torch: theirs });
      for (const [pass, p] of [
        ['forward', 'fwd'],
        ['forward + input grad', 'fwd_bwd'],
      ]) {
        const key = `${p}_ms`;
        const ips = (ms) => (ms ? (1000 * r.batch) / ms : undefined);
        const best = Math.min(...layouts.map((l) => theirs[l]?.[key] ?? Infinity));
        console.log(
          `| ${r.name} | ${r.form} | ${r.batch} | ${pass} | ${fmt(ips(r[key]), 2)} | ${fmt(r[`${p}_gflops`], 0)} | ${pct(r[`${p}_peak_pct`])} | ${pct(r[`${p}_useful_peak_pct`])} ` +
            `| ${fmt(ips(theirs.nchw?.[key]), 2)} ` +
            `| ${fmt(ips(theirs.channels_last?.[key]), 2)} | ${ratio(Number.isFinite(best) ? best : undefined, r[key])} |`,
        );
      }
    },
  });
}

async function attacksSection(args, peer, out) {
  const { benchAttacks } = require('./attacks');
  const reps = args.reps || 3;
  const batches = args.quick ? [1] : [1, 4];
  console.log(
    `\n## PGD-10 on RepLKNet-31B at 224x224 (${args.threads} threads, medians of ${reps}; seconds per attack on the batch, lower is better)\n`,
  );
  console.log(
    'PyTorch runs the torchattacks PGD loop (bench/torch_attack.py) on the same architecture in both memory layouts. ' +
      "Overhead: the share of lkvit's attack time spent outside the model's forward and backward passes.\n",
  );
  console.log(
    '| model | batch | lkvit s | GFLOP/s | % peak | PyTorch NCHW s | PyTorch channels-last s | speed-up vs NCHW | vs channels-last | lkvit overhead |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  await benchAttacks({
    reps,
    threads: args.threads,
    batches,
    onCase: async (r) => {
      const theirs = {};
      if (peer)
        for (const layout of ['nchw', 'channels_last'])
          theirs[layout] = await peer.ask({
            op: 'pgd',
            name: r.name,
            N: r.batch,
            layout,
            reps,
            steps: r.steps,
            eps: r.eps,
            alpha: r.alpha,
          });
      out.attacks.push({ ...r, torch: theirs });
      const s = (ms) => (ms ? (ms / 1000).toFixed(2) : '—');
      console.log(
        `| ${r.name} | ${r.batch} | ${s(r.attack_ms)} | ${fmt(r.attack_gflops, 0)} | ${pct(r.attack_peak_pct)} | ${s(theirs.nchw?.attack_ms)} | ${s(theirs.channels_last?.attack_ms)} ` +
          `| ${ratio(theirs.nchw?.attack_ms, r.attack_ms)} | ${ratio(theirs.channels_last?.attack_ms, r.attack_ms)} | ${(100 * r.overhead).toFixed(1)}% |`,
      );
    },
  });
}

async function trainSection(args, peer, out) {
  const { benchTrain } = require('./train');
  const reps = args.reps || 5;
  console.log(
    `\n## Training steps (${args.threads} threads, medians of ${reps}, 3 for RepLKNet-31B; ms per AdamW step on the batch, lower is better)\n`,
  );
  console.log(
    'One step: train-mode forward, cross-entropy with label smoothing 0.1, backward to every parameter, AdamW update; ' +
      'PyTorch runs the same step on the same architecture (bench/torch_models.py) in both memory layouts.\n',
  );
  console.log(
    '| model | params | batch | input | lkvit ms | GFLOP/s | % peak | PyTorch NCHW ms | PyTorch channels-last ms | speed-up vs NCHW | vs channels-last |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  await benchTrain({
    reps,
    threads: args.threads,
    onCase: async (r) => {
      const theirs = {};
      if (peer)
        for (const layout of ['nchw', 'channels_last'])
          theirs[layout] = await peer.ask({
            op: 'train',
            name: r.name,
            overrides: r.overrides,
            N: r.batch,
            size: r.size,
            layout,
            reps: r.size === 224 ? Math.min(reps, 3) : reps,
          });
      out.train.push({ ...r, torch: theirs });
      console.log(
        `| ${r.label} | ${r.params.toLocaleString('en-US')} | ${r.batch} | ${r.size}x${r.size} | ${fmt(r.step_ms, 1)} | ${fmt(r.step_gflops, 0)} | ${pct(r.step_peak_pct)} | ${fmt(theirs.nchw?.step_ms, 1)} ` +
          `| ${fmt(theirs.channels_last?.step_ms, 1)} | ${ratio(theirs.nchw?.step_ms, r.step_ms)} | ${ratio(theirs.channels_last?.step_ms, r.step_ms)} |`,
      );
    },
  });
}

// A second of work first, so the first measured case does not pay for cold caches, thread
// start-up and the CPU's clock ramp.
async function warmUp(peer) {
  const { benchDwconv } = require('./dwconv');
  const end = Date.now() + 1000;
  while (Date.now() < end)
    await benchDwconv({ kernels: [13], shapes: ['1x128x56'], reps: 3, threads: lk.getNumThreads() });
  if (peer) await peer.ask({ op: 'dwconv', N: 1, C: 128, H: 56, W: 56, K: 13, reps: 5 });
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  lk.setNumThreads(args.threads);
  // The yardstick first (cached after the first run), while nothing else runs.
  const machine = lk.machinePeak({ threads: args.threads, refresh: args.refreshPeak });
  const peer = args.torch ? await startPeer(args.threads) : null;
  const info = {
    machine,
    date: new Date().toISOString(),
    node: process.version,
    isa: lk.getIsa().active,
    threads: lk.getNumThreads(),
    cpu: require('os').cpus()[0]?.model,
    torch: peer ? peer.version : null,
    torchBlas: peer ? peer.blas : null,
  };
  console.log(
    `# lkvit bench — ${info.cpu}, ${info.isa}, ${info.threads} threads; PyTorch ${info.torch ? `${info.torch} (BLAS: ${info.torchBlas})` : 'not found (set LKVIT_PYTHON to a python with torch)'}`,
  );
  console.log(`\nmachine: ${machineLine(machine)}`);
  const out = {
    info,
    dwconv: [],
    attention: [],
    gemm: [],
    conv: [],
    pointwise: [],
    models: [],
    attacks: [],
    train: [],
  };
  const sections = {
    dwconv: dwconvSection,
    attention: attentionSection,
    gemm: gemmSection,
    conv: convSection,
    pointwise: pointwiseSection,
    models: modelsSection,
    attacks: attacksSection,
    train: trainSection,
  };
  try {
    await warmUp(peer);
    for (const [name, fn] of Object.entries(sections))
      if (!args.only || args.only.includes(name)) await fn(args, peer, out);
  } finally {
    if (peer) peer.close();
  }
  fs.mkdirSync(path.dirname(args.json), { recursive: true });
  fs.writeFileSync(args.json, JSON.stringify(out, null, 2));
  console.log(`\nresults: ${path.relative(process.cwd(), args.json)}`);
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
