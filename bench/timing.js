// The one timing rule every bench module uses: warm up for at least `warmMs` (and twice), so cores
// that idled while PyTorch ran are back at full speed, then `reps` timed runs: their minimum,
// median (the number reported) and maximum. `setup`, when given, runs untimed before each call and
// its result is passed to `fn`. With `count: true` the first warm-up call runs under lk.profile, so
// the result also carries the FLOPs of one call (conventional and on the taps that meet the input).
'use strict';
const lk = require('..');

function timeMs(fn, reps, { setup = () => undefined, warmMs = 200, warmCalls = 2, count = false } = {}) {
  let work = null;
  const end = process.hrtime.bigint() + BigInt(Math.round(warmMs * 1e6));
  for (let i = 0; i < warmCalls || process.hrtime.bigint() < end; i++) {
    const s = setup();
    if (i === 0 && count) {
      const p = lk.profile(() => fn(s));
      work = { gflop: p.total.gflop, useful_gflop: p.total.usefulGflop };
    } else fn(s);
  }
  const times = [];
  for (let i = 0; i < reps; i++) {
    const s = setup();
    const t0 = process.hrtime.bigint();
    fn(s);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  return { min: times[0], median: times[Math.floor(times.length / 2)], max: times[times.length - 1], ...work };
}

function medianMs(fn, reps, opts) {
  return timeMs(fn, reps, opts).median;
}

// The fields one timed pass adds to a bench row, each name prefixed by the pass ('fwd_ms', ...).
// A row's better measurement of a pass (bench/run.js) replaces all of them together.
const PASS_FIELDS = ['ms', 'range_ms', 'gflops', 'useful_gflops', 'peak_pct', 'useful_peak_pct'];

/**
 * PREFIX_ms (the median), PREFIX_range_ms ([min, max]) and, when the timing counted its FLOPs,
 * GFLOP/s and % of the machine's peak (`machine`: lk.machinePeak()) by both counts. An empty
 * prefix gives the bare names (ms, range_ms, gflops, ...).
 */
function passFields(prefix, t, machine) {
  const name = (field) => (prefix ? `${prefix}_${field}` : field);
  const rate = (gflop) => (gflop * 1e3) / t.median;
  const out = { [name('ms')]: t.median, [name('range_ms')]: [t.min, t.max] };
  if (t.gflop === undefined) return out;
  out[name('gflops')] = rate(t.gflop);
  out[name('useful_gflops')] = rate(t.useful_gflop);
  out[name('peak_pct')] = (100 * rate(t.gflop)) / machine.fmaGflops;
  out[name('useful_peak_pct')] = (100 * rate(t.useful_gflop)) / machine.fmaGflops;
  return out;
}

// Shared by the kernel benchmarks (gemm.js, conv.js): a tensor uniform in [-1, 1), and a call run
// with a given thread count.
function randomTensor(shape, requiresGrad = false) {
  const t = lk.zeros(shape, { requiresGrad });
  for (let i = 0; i < t.data.length; i++) t.data[i] = Math.random() * 2 - 1;
  return t;
}

async function withThreads(threads, fn) {
  const previous = lk.getNumThreads();
  lk.setNumThreads(threads);
  try {
    return await fn();
  } finally {
    lk.setNumThreads(previous);
  }
}

/** When `mod` is the script node was started with: runs bench(opts) with --reps N (default 7),
 * --threads N (default 2) and --quick from the command line, one JSON row per line. */
function runAsScript(mod, bench) {
  if (require.main !== mod) return;
  const args = process.argv.slice(2);
  const flag = (name, def) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 && i + 1 < args.length ? Number(args[i + 1]) : def;
  };
  const opts = { reps: flag('reps', 7), threads: flag('threads', 2), quick: args.includes('--quick') };
  bench(opts)
    .then((rows) => rows.forEach((r) => console.log(JSON.stringify(r))))
    .catch((e) => {
      console.error(e);
      process.exit(1);
    });
}

module.exports = { timeMs, medianMs, passFields, PASS_FIELDS, randomTensor, withThreads, runAsScript };
