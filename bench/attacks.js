// Attacks end to end through the public API: PGD-10 (L-inf, eps 8/255, alpha 2/255, random start) on RepLKNet-31B
// at 224x224 with seeded random weights, and how much of an attack's time is spent outside the
// model's forward and backward passes (the attack loop's own overhead: steps, projections, losses).
// Run directly: node bench/attacks.js [reps] [threads] [batches] -> one JSON line per case.
'use strict';
const lk = require('..');
const { input } = require('./models');

/** The model as a function (an attack takes either) that adds the time of each forward pass, and of
 * each backward pass from its logits, to clock.ms: the model's share of an attack, measured here
 * rather than counted inside the attacks. */
function timedModel(model, clock) {
  return (x) => {
    const t0 = performance.now();
    const logits = model.forward(x);
    clock.ms += performance.now() - t0;
    const backward = logits.backward;
    logits.backward = (...args) => {
      const t1 = performance.now();
      try {
        return backward.apply(logits, args);
      } finally {
        clock.ms += performance.now() - t1;
      }
    };
    return logits;
  };
}

/** Times one attack call `reps` times after one warm-up call (profiled: the FLOPs of a call); returns
 * the median, its GFLOP/s and % of lk.machinePeak, and the overhead share. run(model) attacks the
 * model it is given: the timed one, whose passes add to clock.ms. */
function timeAttack(model, run, reps) {
  const clock = { ms: 0 };
  const timed = timedModel(model, clock);
  const { gflop } = lk.profile(() => run(timed)).total;
  const rows = [];
  for (let i = 0; i < reps; i++) {
    clock.ms = 0;
    const t0 = performance.now();
    run(timed);
    const ms = performance.now() - t0;
    rows.push({ ms, model_ms: clock.ms });
  }
  rows.sort((a, b) => a.ms - b.ms);
  const mid = rows[Math.floor(rows.length / 2)];
  const gflops = (gflop * 1e3) / mid.ms;
  return {
    attack_ms: mid.ms,
    overhead: (mid.ms - mid.model_ms) / mid.ms,
    attack_gflops: gflops,
    attack_peak_pct: (100 * gflops) / lk.machinePeak().fmaGflops,
  };
}

// torchattacks' defaults: eps 8/255, alpha 2/255, random start.
const CASES = [{ name: 'replknet31b', attack: 'pgd', steps: 10, eps: 8 / 255, alpha: 2 / 255 }];

async function benchAttacks({ reps = 3, threads = 0, batches = [1, 4], onCase = async () => {} } = {}) {
  const prevThreads = lk.getNumThreads();
  lk.setNumThreads(threads);
  const rows = [];
  try {
    for (const c of CASES) {
      lk.manualSeed(1);
      const model = lk.createModel(c.name);
      for (const batch of batches) {
        const x = input(batch, 777);
        const y = new Array(batch).fill(0).map((_, i) => (i * 37) % 1000);
        const t = timeAttack(
          model,
          (m) => lk.attacks.pgd(m, x, y, { eps: c.eps, alpha: c.alpha, steps: c.steps, seed: 1 }),
          reps,
        );
        const row = { ...c, batch, ...t };
        rows.push(row);
        await onCase(row);
      }
    }
  } finally {
    lk.setNumThreads(prevThreads);
  }
  return rows;
}

module.exports = { benchAttacks };

if (require.main === module) {
  const reps = Number(process.argv[2] ?? 3);
  const threads = Number(process.argv[3] ?? 0);
  const batches = (process.argv[4] ?? '1,4').split(',').map(Number);
  benchAttacks({ reps, threads, batches }).then((rows) => rows.forEach((r) => console.log(JSON.stringify(r))));
}
