#!/usr/bin/env node
// `npm run bench`: lkvit's kernels side by side with PyTorch on this machine, in one run.
// Each depthwise case is timed in lkvit, in PyTorch (a persistent bench/torch_peer.py process), and
// again in both, each side keeping the better of its two medians, so the ratio compares
// measurements taken seconds apart.
//
//   npm run bench                      full sweep (about 20 minutes on 2 cores)
//   npm run bench -- --quick           a few headline cases
//   npm run bench -- --only dwconv     sections (comma-separated): dwconv, attention, gemm, conv, models, attacks, train
//   options: --threads N (default 2)  --reps N  --no-torch  --json FILE (default bench/results/latest.json)
//            --kernels 3,31  --shapes 1x128x56,8x128x56 (N x C x H, square maps) for the dwconv section
'use strict';
const fs = require('fs');
const path = require('path');
const { startPeer } = require('./peer');
const lk = require('..');

function parseArgs(argv) {
  const a = { threads: 2, reps: 0, quick: false, torch: true, only: null, kernels: null, shapes: null, json: path.join(__dirname, 'results', 'latest.json') };
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
    else if (k === '--only') a.only = val().split(',');
    else if (k === '--json') a.json = val();
    else if (k === '--kernels') a.kernels = val().split(',').map(Number);
    else if (k === '--shapes') a.shapes = val().split(',');
    else throw new Error(`bench: unknown option ${k} (see the header of bench/run.js)`);
  }
  if (!Number.isInteger(a.threads) || a.threads < 1) throw new Error('bench: --threads must be a positive integer');
  return a;
}

// The smaller of each timing field (`*_ms`, also inside nested layouts) of two measurements.
function betterOf(a, b) {
  const out = {};
  for (const [k, v] of Object.entries(a)) {
    if (v && typeof v === 'object') out[k] = betterOf(v, b[k]);
    else out[k] = k.endsWith('_ms') ? Math.min(v, b[k]) : v;
  }
  return out;
}

const fmt = (v, d = 2) => (v === undefined || v === null || Number.isNaN(v) ? '—' : v >= 100 ? v.toFixed(0) : v.toFixed(d));
const ratio = (torchMs, lkMs) => (torchMs && lkMs ? `${(torchMs / lkMs).toFixed(2)}×` : '—');

async function dwconvSection(args, peer, out) {
  const { benchDwconv } = require('./dwconv');
  const kernels = args.kernels || (args.quick ? [3, 7, 13, 31, 51] : [3, 5, 7, 9, 13, 17, 21, 27, 29, 31, 41, 51]);
  const shapes = args.shapes || (args.quick ? ['1x128x56'] : ['1x128x56', '1x256x28', '1x512x14', '1x1024x7', '8x128x56']);
  // Sub-millisecond cases get more repetitions: their medians are the noisiest.
  const repsFor = (K) => args.reps || (K < 15 ? 21 : args.quick ? 5 : 9);
  console.log(`\n## Depthwise conv2d, stride 1, padding K//2 (${args.threads} threads; medians of ${repsFor(3)} runs for K < 15, ${repsFor(31)} above)\n`);
  console.log('| N, C, H=W, K | lkvit fwd ms | GFLOP/s | PyTorch best fwd ms | speed-up | lkvit fwd+bwd(x) ms | PyTorch best | speed-up | lkvit fwd+bwd(x,w) ms | PyTorch best | speed-up |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const shape of shapes) {
    const [N, C, H] = shape.split('x').map(Number);
    for (const K of kernels) {
      const reps = repsFor(K);
      const measure = async () => (await benchDwconv({ kernels: [K], shapes: [shape], reps, threads: args.threads }))[0];
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
        mine.fwd_gflops = (2 * N * C * H * H * K * K) / mine.fwd_ms / 1e6;
      }
      const best = (key) => (theirs ? Math.min(theirs.nchw[key], theirs.channels_last[key]) : null);
      const row = { N, C, H, W: H, K, lkvit: mine, torch: theirs };
      out.dwconv.push(row);
      console.log(
        `| ${N}, ${C}, ${H}, ${K} | ${fmt(mine.fwd_ms, 3)} | ${fmt(mine.fwd_gflops, 0)} | ${fmt(best('fwd_ms'), 3)} | ${ratio(best('fwd_ms'), mine.fwd_ms)} ` +
          `| ${fmt(mine.fwd_bwd_input_ms, 3)} | ${fmt(best('fwd_bwd_input_ms'), 3)} | ${ratio(best('fwd_bwd_input_ms'), mine.fwd_bwd_input_ms)} ` +
          `| ${fmt(mine.fwd_bwd_all_ms, 3)} | ${fmt(best('fwd_bwd_all_ms'), 3)} | ${ratio(best('fwd_bwd_all_ms'), mine.fwd_bwd_all_ms)} |`,
      );
    }
  }
}

async function attentionSection(args, peer, out) {
  const { benchAttention } = require('./attention');
  const reps = args.reps || 7;
  const rows = await benchAttention({ reps, threads: args.threads, quick: args.quick });
  console.log(`\n## Multi-head attention (${args.threads} threads, medians of ${reps})\n`);
  console.log('| B, heads, T, d | lkvit fwd ms | PyTorch fwd ms | speed-up | lkvit fwd+bwd ms | PyTorch fwd+bwd ms | speed-up |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const theirs = peer ? await peer.ask({ op: 'attention', B: r.B, H: r.H, T: r.T, d: r.d, reps }) : null;
    out.attention.push({ ...r, torch: theirs });
    console.log(
      `| ${r.B}, ${r.H}, ${r.T}, ${r.d} | ${fmt(r.fwd_ms, 3)} | ${fmt(theirs?.fwd_ms, 3)} | ${ratio(theirs?.fwd_ms, r.fwd_ms)} ` +
        `| ${fmt(r.fwd_bwd_ms, 3)} | ${fmt(theirs?.fwd_bwd_ms, 3)} | ${ratio(theirs?.fwd_bwd_ms, r.fwd_bwd_ms)} |`,
    );
  }
}

async function gemmSection(args, peer, out) {
  const { benchGemm } = require('./gemm');
  const reps = args.reps || 7;
  const rows = await benchGemm({ reps, threads: args.threads, quick: args.quick });
  console.log(`\n## GEMM (${args.threads} threads, medians of ${reps})\n`);
  console.log('| case | M, N, K | lkvit ms | GFLOP/s | PyTorch ms | speed-up |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) {
    const theirs = peer && r.M ? await peer.ask({ op: 'matmul', kind: r.kind, M: r.M, N: r.N, K: r.K, reps }) : null;
    out.gemm.push({ ...r, torch: theirs });
    console.log(`| ${r.name} | ${r.M}, ${r.N}, ${r.K} | ${fmt(r.ms, 3)} | ${fmt(r.gflops, 0)} | ${fmt(theirs?.ms, 3)} | ${ratio(theirs?.ms, r.ms)} |`);
  }
}

async function convSection(args, peer, out) {
  const { benchConv } = require('./gemm');
  const reps = args.reps || 7;
  const rows = await benchConv({ reps, threads: args.threads, quick: args.quick });
  console.log(`\n## Dense and grouped conv2d (${args.threads} threads, medians of ${reps}; backward rows time backward() alone)\n`);
  console.log('| case | lkvit ms | GFLOP/s | PyTorch ms | speed-up |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) {
    const theirs = peer ? await peer.ask({ op: 'conv', ...r, reps }) : null;
    out.conv.push({ ...r, torch: theirs });
    console.log(`| ${r.name} | ${fmt(r.ms, 3)} | ${fmt(r.gflops, 0)} | ${fmt(theirs?.ms, 3)} | ${ratio(theirs?.ms, r.ms)} |`);
  }
}

async function modelsSection(args, peer, out) {
  const { benchModels } = require('./models');
  const reps = args.reps || 3;
  const batches = args.quick ? [1] : [1, 8];
  console.log(`\n## Whole models at 224x224 (${args.threads} threads, medians of ${reps}; images/s, higher is better)\n`);
  console.log('PyTorch runs the same architecture (bench/torch_models.py) in both memory layouts; the speed-up is against the faster one.\n');
  console.log('| model | form | batch | pass | lkvit img/s | PyTorch NCHW img/s | PyTorch channels-last img/s | speed-up |');
  console.log('|---|---|---|---|---|---|---|---|');
  await benchModels({
    reps, threads: args.threads, batches,
    onCase: async (r) => {
      const layouts = r.name.startsWith('vit') ? ['nchw'] : ['nchw', 'channels_last'];
      const theirs = {};
      if (peer) for (const layout of layouts) theirs[layout] = await peer.ask({ op: 'model', name: r.name, form: r.form, N: r.batch, layout, reps });
      out.models.push({ ...r, torch: theirs });
      for (const [pass, key] of [['forward', 'fwd_ms'], ['forward + input grad', 'fwd_bwd_ms']]) {
        const ips = (ms) => (ms ? (1000 * r.batch) / ms : undefined);
        const best = Math.min(...layouts.map((l) => theirs[l]?.[key] ?? Infinity));
        console.log(
          `| ${r.name} | ${r.form} | ${r.batch} | ${pass} | ${fmt(ips(r[key]), 2)} | ${fmt(ips(theirs.nchw?.[key]), 2)} ` +
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
  console.log(`\n## PGD-10 on RepLKNet-31B at 224x224 (${args.threads} threads, medians of ${reps}; seconds per attack on the batch, lower is better)\n`);
  console.log('PyTorch runs the torchattacks PGD loop (bench/torch_attack.py) on the same architecture in both memory layouts. ' +
    'Overhead: the share of lkvit\'s attack time spent outside the model\'s forward and backward passes.\n');
  console.log('| model | batch | lkvit s | PyTorch NCHW s | PyTorch channels-last s | speed-up vs NCHW | vs channels-last | lkvit overhead |');
  console.log('|---|---|---|---|---|---|---|---|');
  await benchAttacks({
    reps, threads: args.threads, batches,
    onCase: async (r) => {
      const theirs = {};
      if (peer)
        for (const layout of ['nchw', 'channels_last'])
          theirs[layout] = await peer.ask({ op: 'pgd', name: r.name, N: r.batch, layout, reps, steps: r.steps, eps: r.eps, alpha: r.alpha });
      out.attacks.push({ ...r, torch: theirs });
      const s = (ms) => (ms ? (ms / 1000).toFixed(2) : '—');
      console.log(`| ${r.name} | ${r.batch} | ${s(r.attack_ms)} | ${s(theirs.nchw?.attack_ms)} | ${s(theirs.channels_last?.attack_ms)} ` +
        `| ${ratio(theirs.nchw?.attack_ms, r.attack_ms)} | ${ratio(theirs.channels_last?.attack_ms, r.attack_ms)} | ${(100 * r.overhead).toFixed(1)}% |`);
    },
  });
}

async function trainSection(args, peer, out) {
  const { benchTrain } = require('./train');
  const reps = args.reps || 5;
  console.log(`\n## Training steps (${args.threads} threads, medians of ${reps}, 3 for RepLKNet-31B; ms per AdamW step on the batch, lower is better)\n`);
  console.log('One step: train-mode forward, cross-entropy with label smoothing 0.1, backward to every parameter, AdamW update; ' +
    'PyTorch runs the same step on the same architecture (bench/torch_models.py) in both memory layouts.\n');
  console.log('| model | params | batch | input | lkvit ms | PyTorch NCHW ms | PyTorch channels-last ms | speed-up vs NCHW | vs channels-last |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  await benchTrain({
    reps, threads: args.threads,
    onCase: async (r) => {
      const theirs = {};
      if (peer)
        for (const layout of ['nchw', 'channels_last'])
          theirs[layout] = await peer.ask({ op: 'train', name: r.name, overrides: r.overrides, N: r.batch, size: r.size, layout, reps: r.size === 224 ? Math.min(reps, 3) : reps });
      out.train.push({ ...r, torch: theirs });
      console.log(`| ${r.label} | ${r.params.toLocaleString('en-US')} | ${r.batch} | ${r.size}x${r.size} | ${fmt(r.step_ms, 1)} | ${fmt(theirs.nchw?.step_ms, 1)} ` +
        `| ${fmt(theirs.channels_last?.step_ms, 1)} | ${ratio(theirs.nchw?.step_ms, r.step_ms)} | ${ratio(theirs.channels_last?.step_ms, r.step_ms)} |`);
    },
  });
}

// A second of work first, so the first measured case does not pay for cold caches, thread
// start-up and the CPU's clock ramp.
async function warmUp(peer) {
  const { benchDwconv } = require('./dwconv');
  const end = Date.now() + 1000;
  while (Date.now() < end) await benchDwconv({ kernels: [13], shapes: ['1x128x56'], reps: 3, threads: lk.getNumThreads() });
  if (peer) await peer.ask({ op: 'dwconv', N: 1, C: 128, H: 56, W: 56, K: 13, reps: 5 });
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  lk.setNumThreads(args.threads);
  const peer = args.torch ? await startPeer(args.threads) : null;
  const info = {
    date: new Date().toISOString(),
    node: process.version,
    isa: lk.getIsa().active,
    threads: lk.getNumThreads(),
    cpu: require('os').cpus()[0]?.model,
    torch: peer ? peer.version : null,
    torchBlas: peer ? peer.blas : null,
  };
  console.log(`# lkvit bench — ${info.cpu}, ${info.isa}, ${info.threads} threads; PyTorch ${info.torch ? `${info.torch} (BLAS: ${info.torchBlas})` : 'not found (set LKVIT_PYTHON to a python with torch)'}`);
  const out = { info, dwconv: [], attention: [], gemm: [], conv: [], models: [], attacks: [], train: [] };
  const sections = { dwconv: dwconvSection, attention: attentionSection, gemm: gemmSection, conv: convSection, models: modelsSection, attacks: attacksSection, train: trainSection };
  try {
    await warmUp(peer);
    for (const [name, fn] of Object.entries(sections)) if (!args.only || args.only.includes(name)) await fn(args, peer, out);
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
