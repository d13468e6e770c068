// FAB-T and Square L2: FAB against its closed form on a binary linear model, the hyperplane
// projection against an independent bisection, Square L2's invariants (eps-ball, [0, 1], seeds,
// budget) and the ensemble's order and bookkeeping. Against float64 reimplementations of
// AutoAttack's code: attacks.fixtures.test.js; lkvit attack --attack fab-t: attacks.test.js.
'use strict';
const test = require('ava');
const lk = require('..');
const { rng } = require('./helpers');

const A = lk.attacks;

function maxDiff(a, b) {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

// A binary linear model on 5x5 images away from the box: FAB's distance has a closed form.
function binaryLinear(seed) {
  const r = rng(seed);
  const side = 5,
    d = 3 * side * side,
    N = 4;
  const W = Float64Array.from({ length: 2 * d }, () => r.uniform(-1, 1));
  const b = [0.05, -0.05];
  const model = (xx) =>
    lk.ops.linear(
      lk.ops.reshape(xx, [xx.shape[0], d]),
      lk.tensor(Float32Array.from(W), [2, d]),
      lk.tensor(Float32Array.from(b), [2]),
    );
  const xs = lk.tensor(
    Float32Array.from({ length: N * d }, () => r.uniform(0.35, 0.65)),
    [N, 3, side, side],
  );
  const z = lk.noGrad(() => model(xs)).data;
  const labels = Array.from({ length: N }, (_, n) => (z[2 * n] >= z[2 * n + 1] ? 0 : 1));
  // The exact distance to z_t = z_y: |gap| / ||W_t - W_y||_1 (L-inf) or _2 (L2), and the largest pixel move.
  const exact = (n, norm) => {
    const yn = labels[n],
      tn = 1 - yn;
    let gap = b[yn] - b[tn],
      l1 = 0,
      l2 = 0,
      vmax = 0;
    for (let i = 0; i < d; i++) {
      const v = W[tn * d + i] - W[yn * d + i];
      gap += -v * xs.data[n * d + i];
      l1 += Math.abs(v);
      l2 += v * v;
      vmax = Math.max(vmax, Math.abs(v));
    }
    return norm === 'linf'
      ? { dist: gap / l1, move: gap / l1 }
      : { dist: gap / Math.sqrt(l2), move: (gap / l2) * vmax };
  };
  return { model, x: xs, y: labels, exact, N };
}

/** FAB's iterates on a linear binary decision stay on the line from x along the minimal step d, at
 * x + r d: this is the recursion of r (eta, beta, alpha_max defaults), and the best r > 1 it visits. */
function fabRatio(steps, eta = 1.05, beta = 0.9, alphaMax = 0.1) {
  let r = 0,
    best = Infinity;
  for (let k = 0; k < steps; k++) {
    const a1 = Math.abs(1 - r),
      alpha = Math.min(a1 / (a1 + 1), alphaMax);
    r = (r + eta * (1 - r)) * (1 - alpha) + eta * alpha;
    if (r > 1) {
      best = Math.min(best, r);
      r *= beta;
    }
  }
  return best;
}

test('FAB-T on a binary linear model: the closest point it finds is the exact distance to the boundary times its recursion', (t) => {
  t.true(fabRatio(100) > 1 && fabRatio(100) < 1.006, `ratio ${fabRatio(100)}`);
  t.is(fabRatio(1), 1.05, 'the first step lands at eta times the projection');
  t.not(fabRatio(100, 1.05, 0.9, 0.03), fabRatio(100), 'a cap of 0.03 on alpha binds');
  for (const seed of [1, 2]) {
    const { model, x: xs, y: ys, exact, N } = binaryLinear(seed);
    for (const norm of ['linf', 'l2']) {
      for (const steps of [1, 100]) {
        // numTargets defaults to 9; with 2 classes only 1 target exists.
        const r = A.fabT(model, xs, ys, { eps: 10, norm, steps });
        for (let n = 0; n < N; n++) {
          const e = exact(n, norm);
          t.true(e.move * 1.06 < 0.3, 'the box [0, 1] does not bind');
          const found = norm === 'linf' ? r.linf[n] : r.l2[n];
          const want = e.dist * fabRatio(steps);
          t.true(
            Math.abs(found - want) <= 2e-4 * want,
            `seed ${seed} ${norm} n${steps} sample ${n}: ${found} vs ${want} (exact ${e.dist})`,
          );
          t.is(r.robust[n], 0);
        }
        // The options enter the same recursion: a cap on alpha that binds (the defaults' alpha stays
        // below 0.1 from the clean start), a longer extrapolation, a weaker pull-back.
        for (const o of [{ alphaMax: 0.03 }, { eta: 1.1 }, { beta: 0.7 }]) {
          const ro = A.fabT(model, xs, ys, { eps: 10, norm, steps, ...o });
          const ratio = fabRatio(steps, o.eta ?? 1.05, o.beta ?? 0.9, o.alphaMax ?? 0.1);
          for (let n = 0; n < N; n++) {
            const want = exact(n, norm).dist * ratio,
              found = norm === 'linf' ? ro.linf[n] : ro.l2[n];
            t.true(
              Math.abs(found - want) <= 2e-4 * want,
              `${JSON.stringify(o)} ${norm} n${steps}: ${found} vs ${want}`,
            );
          }
        }
        // eps just below the distance found: nothing counts, x comes back unchanged.
        const below = Math.min(...Array.from({ length: N }, (_, n) => exact(n, norm).dist)) * 0.99;
        const none = A.fabT(model, xs, ys, { eps: below, norm, steps });
        t.deepEqual(Array.from(none.robust), [1, 1, 1, 1]);
        t.deepEqual(none.xAdv.data, xs.data);
      }
    }
  }
});

// Independent references for the projection: bisection on the water level (L-inf: every free
// coordinate moves by min(lambda, its room); L2: d = clip(-mu w, box)).
function bisect(f, hi) {
  let lo = 0;
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (f(mid) < 0) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}
function referenceProjection(p, w, b, upper, norm) {
  const D = p.length;
  let wp = 0;
  for (let i = 0; i < D; i++) wp += w[i] * p[i];
  const down = wp >= b; // move w . x down to b, or up
  const sgn = down ? -1 : 1;
  const stepOf =
    norm === 'linf'
      ? (lambda) =>
          Array.from(p, (v, i) =>
            w[i] === 0 ? 0 : Math.min(Math.max(sgn * Math.sign(w[i]) * lambda, -v), upper[i] - v),
          )
      : (mu) =>
          Array.from(p, (v, i) => (Math.abs(w[i]) < 1e-8 ? 0 : Math.min(Math.max(sgn * mu * w[i], -v), upper[i] - v)));
  const reach = (d) => Math.abs(d.reduce((a, v, i) => a + w[i] * v, 0));
  const need = Math.abs(wp - b);
  const far = 1e6;
  if (reach(stepOf(far)) <= need) return stepOf(far);
  return stepOf(bisect((l) => reach(stepOf(l)) - need, far));
}

test('projectOntoHyperplane: the smallest step onto w . x = b inside the box, against a bisection; the box corner when out of reach', (t) => {
  const r = rng(31);
  const D = 40;
  for (let trial = 0; trial < 30; trial++) {
    // Hostile: pixels exactly at 0 and 1, zero and tiny weights, boxes [0, 1 / std] as normalized space has.
    const p = Array.from({ length: D }, (_, i) => (i % 7 === 0 ? 0 : i % 11 === 0 ? 1 : r.uniform(0, 1)));
    const w = Array.from({ length: D }, (_, i) => (i % 5 === 0 ? 0 : i % 13 === 0 ? 1e-10 : r.uniform(-1, 1)));
    const upper = Array.from({ length: D }, (_, i) => (trial % 2 ? 1 / [0.229, 0.224, 0.225][i % 3] : 1));
    const wp = p.reduce((a, v, i) => a + v * w[i], 0);
    const b = wp + r.uniform(-1, 1) * (trial < 20 ? 2 : 40); // the last 10 mostly out of reach
    for (const norm of ['linf', 'l2']) {
      const d = A.projectOntoHyperplane(p, w, b, upper, norm);
      const want = referenceProjection(p, w, b, upper, norm);
      t.true(maxDiff(d, want) < 1e-9, `trial ${trial} ${norm}: ${maxDiff(d, want)}`);
      for (let i = 0; i < D; i++) t.true(p[i] + d[i] >= -1e-12 && p[i] + d[i] <= upper[i] + 1e-12);
    }
  }
  // A point already on the hyperplane does not move.
  for (const norm of ['linf', 'l2'])
    t.true(A.projectOntoHyperplane([0.5, 0.5], [1, -1], 0, [1, 1], norm).every((v) => v === 0));
});

test('Square L2 stays in the eps-ball and [0, 1], spends the whole budget where eps is too small, and fools a strong model', (t) => {
  for (const side of [4, 5, 12]) {
    const r = rng(side);
    const d = 3 * side * side,
      K = 4,
      N = 3;
    const W = lk.tensor(
      Float32Array.from({ length: K * d }, () => r.uniform(-1, 1)),
      [K, d],
    );
    const model = (xx) => lk.ops.linear(lk.ops.reshape(xx, [xx.shape[0], d]), W, lk.zeros([K]));
    const xs = lk.tensor(
      Float32Array.from({ length: N * d }, (_, i) => (i % 9 === 0 ? 0 : i % 10 === 0 ? 1 : r.uniform(0.1, 0.9))),
      [N, 3, side, side],
    );
    const ys = Array.from(lk.argmax(lk.noGrad(() => model(xs))));
    for (const eps of [0.05, 2]) {
      const a = A.square(model, xs, ys, { eps, norm: 'l2', queries: 60, seed: 3 });
      t.true(a.xAdv.data.every((v) => v >= 0 && v <= 1));
      t.true(Math.max(...a.l2) <= eps * (1 + 1e-5), `side ${side} eps ${eps}: ${Math.max(...a.l2)}`);
      t.true(a.queries.every((q) => q >= 1 && q <= 60));
      if (eps === 0.05)
        t.true(
          a.queries.every((q, n) => q === 60 || !a.robust[n]),
          'robust samples use the whole budget',
        );
      else t.deepEqual(Array.from(a.robust), [0, 0, 0], `side ${side}: fooled at L2 eps 2`);
      const again = A.square(model, xs, ys, { eps, norm: 'l2', queries: 60, seed: 3 });
      t.deepEqual(again.xAdv.data, a.xAdv.data, 'seeded');
    }
  }
});

test('the ensemble is APGD-CE, APGD-T, FAB-T, Square for L-inf and L2, each run on the points still robust', (t) => {
  const r = rng(5);
  const side = 5,
    d = 75,
    K = 6,
    N = 8;
  const W = lk.tensor(
    Float32Array.from({ length: K * d }, () => r.uniform(-0.05, 0.05)),
    [K, d],
  );
  const seen = [];
  const model = (xx) => {
    seen.push(xx.shape[0]);
    return lk.ops.linear(lk.ops.reshape(xx, [xx.shape[0], d]), W, lk.zeros([K]));
  };
  const xs = lk.tensor(
    Float32Array.from({ length: N * d }, () => r.uniform(0.2, 0.8)),
    [N, 3, side, side],
  );
  const ys = Array.from(lk.argmax(lk.noGrad(() => model(xs))));
  for (const [norm, eps] of [
    ['linf', 0.01],
    ['l2', 0.1],
  ]) {
    const res = A.autoAttack(model, xs, ys, { eps, norm, steps: 5, queries: 10, seed: 1 });
    t.deepEqual(
      res.log.map((l) => l.attack),
      ['apgd-ce', 'apgd-t', 'fab-t', 'square'],
    );
    for (let i = 1; i < 4; i++) t.true(res.log[i].robustAccuracy <= res.log[i - 1].robustAccuracy);
    t.is(res.log[3].robustAccuracy, lk.summarize(res).robustAccuracy);
    t.true(Math.max(...(norm === 'linf' ? res.linf : res.l2)) <= eps * (1 + 1e-5));
    // FAB-T alone, started on the points APGD left: its model calls see only those.
    const left = res.log[1].robustAccuracy * N;
    seen.length = 0;
    const fabOnly = A.autoAttack(model, xs, ys, {
      eps,
      norm,
      steps: 5,
      attacks: ['apgd-ce', 'apgd-t', 'fab-t'],
      seed: 1,
    });
    t.is(fabOnly.log[1].robustAccuracy * N, left);
    // The last call is the final prediction on all points; the 10 before it are FAB-T's last 5 iterations.
    const fab = seen.slice(-11, -1);
    t.true(
      fab.every((n) => n <= left),
      `FAB-T's batches ${fab} hold at most the ${left} robust points`,
    );
  }
  t.throws(() => A.autoAttack(model, xs, ys, { eps: 0.1, attacks: ['fab'] }), {
    instanceOf: RangeError,
    message: /apgd-ce, apgd-t, fab-t, square/,
  });
});
