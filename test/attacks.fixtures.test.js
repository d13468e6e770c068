// The attacks against independent float64 PyTorch references (test/fixtures/attacks, written by
// make_attack_fixtures.py and make_fab_square_fixtures.py from AutoAttack's, TAIG's and torchattacks'
// published algorithms) on a linear model and a small ReLU MLP: FGSM, PGD trajectories, APGD-CE/-T
// step by step, FAB-T, Square L2's windows, TAIG-S/-R.
'use strict';
const path = require('path');
const test = require('ava');
const lk = require('..');

const A = lk.attacks;
const dir = path.join(__dirname, 'fixtures', 'attacks');
const read = (name) => lk.readSafetensors(path.join(dir, `${name}.safetensors`)).tensors;
const M = read('models');
const get = (t, k) => {
  const v = t.get(k);
  if (!v) throw new Error(`fixture key ${k} missing`);
  return v;
};
const mean = Array.from(get(M, 'mean').data),
  std = Array.from(get(M, 'std').data);
const x = lk.tensor(get(M, 'x').data, get(M, 'x').shape);
const y = Array.from(get(M, 'y').data);
const N = 4,
  D = 48;

// The fixtures' models as Classifier functions: normalise per channel, flatten, then the layers.
function normalize(xx) {
  const n = xx.shape[0],
    plane = xx.size / n / 3;
  const m = new Float32Array(xx.size),
    s = new Float32Array(xx.size);
  for (let i = 0; i < xx.size; i++) {
    const c = Math.floor(i / plane) % 3;
    m[i] = mean[c];
    s[i] = 1 / std[c];
  }
  return lk.ops.reshape(lk.ops.mul(lk.ops.sub(xx, lk.tensor(m, xx.shape)), lk.tensor(s, xx.shape)), [n, D]);
}
const param = (k) => lk.tensor(get(M, k).data, get(M, k).shape);
const MODELS = {
  linear: (xx) => lk.ops.linear(normalize(xx), param('linear.weight'), param('linear.bias')),
  mlp: (xx) =>
    lk.ops.linear(
      lk.ops.relu(lk.ops.linear(normalize(xx), param('mlp.fc1.weight'), param('mlp.fc1.bias'))),
      param('mlp.fc2.weight'),
      param('mlp.fc2.bias'),
    ),
};

function maxDiff(a, b) {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
const sample = (a, n) => a.subarray(n * D, (n + 1) * D);
const row = (t, r) => t.data.subarray(r * N * D, (r + 1) * N * D);
const TOL = 2e-6; // float32 against float64, values in [0, 1]

test('FGSM in pixel and normalized space matches the reference', (t) => {
  const F = read('fgsm');
  for (const [m, model] of Object.entries(MODELS)) {
    t.true(maxDiff(A.fgsm(model, x, y, { eps: 4 / 255 }).xAdv.data, get(F, `${m}.pixel`).data) < TOL, `${m} pixel`);
    t.true(
      maxDiff(A.fgsm(model, x, y, { eps: 0.05, space: 'normalized', std }).xAdv.data, get(F, `${m}.normalized`).data) <
        TOL,
      `${m} normalized`,
    );
  }
});

test('PGD L-inf, targeted L-inf and L2 follow the reference trajectories step by step', (t) => {
  const P = read('pgd');
  const targets = Array.from(get(M, 'targets').data);
  for (const [m, model] of Object.entries(MODELS)) {
    for (let steps = 1; steps <= 5; steps++) {
      const linf = A.pgd(model, x, y, { eps: 8 / 255, alpha: 2 / 255, steps, randomStart: false });
      t.true(maxDiff(linf.xAdv.data, row(get(P, `${m}.linf`), steps - 1)) < TOL, `${m} linf step ${steps}`);
      const tg = A.pgd(model, x, y, { eps: 8 / 255, alpha: 2 / 255, steps, randomStart: false, target: targets });
      t.true(maxDiff(tg.xAdv.data, row(get(P, `${m}.linf_targeted`), steps - 1)) < TOL, `${m} targeted step ${steps}`);
      const l2 = A.pgd(model, x, y, { eps: 0.5, alpha: 0.2, steps, randomStart: false, norm: 'l2' });
      t.true(maxDiff(l2.xAdv.data, row(get(P, `${m}.l2`), steps - 1)) < 1e-5, `${m} l2 step ${steps}`);
    }
  }
});

const APGD_CASES = [
  ['ce_linf', { eps: 8 / 255 }, 'x_init_linf'],
  ['ce_l2', { eps: 0.5, norm: 'l2' }, 'x_init_l2'],
  ['dlrt_linf', { eps: 8 / 255, numTargets: 1 }, 'x_init_linf'],
];

for (const steps of [20, 100]) {
  test(`APGD-CE (L-inf, L2) and APGD-T follow AutoAttack's run for ${steps} iterations: losses, step sizes, best points`, (t) => {
    const R = read('apgd');
    const xInit = lk.tensor(get(M, 'x_init_linf').data, x.shape);
    for (const [m, model] of Object.entries(MODELS)) {
      for (const [name, opts, init] of APGD_CASES) {
        const key = (f) => get(R, `${m}.${name}.n${steps}.${f}`);
        const clear = Array.from(key('clear_iters').data);
        const trace = [];
        const options = {
          ...opts,
          steps,
          xInit: init === 'x_init_linf' ? xInit : lk.tensor(get(M, init).data, x.shape),
          onIteration: (it) => trace.push(it),
        };
        const r = name.startsWith('dlrt') ? A.apgdT(model, x, y, options) : A.apgd(model, x, y, options);
        const attacked = trace[0].samples;
        const cleanPred = lk.argmax(lk.noGrad(() => model(x)));
        t.deepEqual(
          attacked,
          [0, 1, 2, 3].filter((n) => cleanPred[n] === y[n]),
          'only the clean-correct samples are attacked',
        );
        if (name.startsWith('dlrt'))
          t.deepEqual(
            attacked.map((n) => get(R, `${m}.${name}.target`).data[n]),
            attacked.map((n) => {
              const z = Array.from(lk.noGrad(() => model(x)).data.subarray(n * 10, n * 10 + 10));
              return z.map((v, j) => j).sort((a, b) => z[b] - z[a])[1];
            }),
          );
        const loss = key('loss'),
          best = key('loss_best'),
          step = key('step_size');
        attacked.forEach((n, j) => {
          for (let i = 0; i < Math.min(clear[n], steps); i++) {
            const want = loss.data[i * N + n];
            t.true(
              Math.abs(trace[i].loss[j] - want) <= 1e-4 * Math.max(1, Math.abs(want)),
              `${m} ${name} sample ${n} loss at ${i}: ${trace[i].loss[j]} vs ${want}`,
            );
            const used = i === 0 ? 2 * opts.eps : trace[i - 1].stepSize[j];
            t.true(Math.abs(used - step.data[i * N + n]) <= 1e-6 * used, `${m} ${name} sample ${n} step size at ${i}`);
            const wantBest = best.data[(i + 1) * N + n];
            t.true(
              Math.abs(trace[i].lossBest[j] - wantBest) <= 1e-4 * Math.max(1, Math.abs(wantBest)),
              `${m} ${name} best loss at ${i}`,
            );
          }
        });
        // The returned points: AutoAttack's perturb() output where the whole run is float32-safe.
        for (let n = 0; n < N; n++)
          if (clear[n] >= steps)
            t.true(maxDiff(sample(r.xAdv.data, n), sample(key('adv').data, n)) < 1e-5, `${m} ${name} adv ${n}`);
      }
    }
  });
}

test('TAIG-S follows the reference trajectory; TAIG-R equals it where its random path cannot matter', (t) => {
  const T = read('taig');
  for (const [m, model] of Object.entries(MODELS)) {
    for (let steps = 1; steps <= 10; steps++) {
      const r = A.taig(model, x, y, { eps: 16 / 255, alpha: 1 / 255, steps });
      t.true(maxDiff(r.xAdv.data, row(get(T, `${m}.taig_s`), steps - 1)) < TOL, `${m} TAIG-S step ${steps}`);
    }
  }
  const mask = get(T, 'linear.taig_r_mask').data;
  const want = row(get(T, 'linear.taig_s'), 9);
  for (const seed of [1, 2, 3]) {
    const r = A.taig(MODELS.linear, x, y, { eps: 16 / 255, alpha: 1 / 255, steps: 10, path: 'random', seed });
    for (let i = 0; i < mask.length; i++)
      if (mask[i]) t.true(Math.abs(r.xAdv.data[i] - want[i]) < TOL, `seed ${seed} pixel ${i}`);
  }
});

test('the reference fixtures store the checkpoint schedule this implementation uses', (t) => {
  const R = read('apgd');
  t.deepEqual(
    Array.from(get(R, 'checkpoints_n100').data),
    A.apgdCheckpoints(100).map((c) => c.iteration),
  );
  t.deepEqual(
    Array.from(get(R, 'checkpoints_n20').data),
    A.apgdCheckpoints(20).map((c) => c.iteration),
  );
});

test("FAB-T follows AutoAttack's attack_single_run_targeted and perturb (L-inf, L2; 10 and 100 iterations)", (t) => {
  const F = read('fab');
  const eps = { linf: 0.05, l2: 0.5 };
  for (const [m, model] of Object.entries(MODELS)) {
    const logits = lk.noGrad(() => model(x)).data;
    for (const norm of ['linf', 'l2']) {
      for (const steps of [10, 100]) {
        const key = (f) => get(F, `${m}.${norm}.n${steps}.${f}`);
        // The first target is the second-highest clean logit.
        for (let n = 0; n < 4; n++) {
          const row = Array.from(logits.subarray(n * 10, n * 10 + 10));
          t.is(Number(key('target').data[n]), row.map((_, j) => j).sort((a, b) => row[b] - row[a])[1]);
        }
        // One target, no eps limit: the single run's closest misclassified points and their distances.
        const single = A.fabT(model, x, y, { eps: 1e9, norm, steps, numTargets: 1 });
        const dist = norm === 'linf' ? single.linf : single.l2;
        for (let n = 0; n < 4; n++) {
          const res = key('res').data[n];
          if (res < 1e9)
            t.true(
              Math.abs(dist[n] - res) <= 2e-7 + 1e-5 * res,
              `${m} ${norm} n${steps} sample ${n}: ${dist[n]} vs ${res}`,
            );
          else t.is(dist[n], 0, `${m} ${norm} n${steps} sample ${n}: nothing found, x returned`);
        }
        t.true(maxDiff(single.xAdv.data, key('single').data) < 1e-5, `${m} ${norm} n${steps} single`);
        // All 9 targets in turn, a point counting only within eps.
        const full = A.fabT(model, x, y, { eps: eps[norm], norm, steps });
        t.true(maxDiff(full.xAdv.data, key('perturb').data) < 1e-5, `${m} ${norm} n${steps} perturb`);
      }
    }
  }
});

test("Square L2's meta pseudo-gaussian windows match AutoAttack's eta(s) for s = 1..9", (t) => {
  const S = read('square_l2');
  for (let s = 1; s <= 9; s++) {
    const w = A.squareL2Window(s);
    t.is(w.length, s * s);
    t.true(maxDiff(w, get(S, `window_s${s}`).data) < 1e-7, `s = ${s}`); // the fixture is read as float32
    t.true(Math.abs(w.reduce((a, v) => a + v * v, 0) - 1) < 1e-12, `s = ${s}: unit norm`);
  }
});

test("Square L2 follows AutoAttack's L2 run draw for draw (lkvit's generator, per image) on a 10x10 linear model", (t) => {
  const S = read('square_l2');
  const model = (xx) =>
    lk.ops.linear(
      lk.ops.reshape(xx, [xx.shape[0], 300]),
      lk.tensor(get(S, 'linear.weight').data, [10, 300]),
      lk.tensor(get(S, 'linear.bias').data, [10]),
    );
  const xs = lk.tensor(get(S, 'x').data, [2, 3, 10, 10]),
    ys = Array.from(get(S, 'y').data);
  for (const eps of ['0.5', '2.0']) {
    const r = A.square(model, xs, ys, { eps: Number(eps), norm: 'l2', queries: 30, seed: 5 });
    t.true(maxDiff(r.xAdv.data, get(S, `eps${eps}.q30.adv`).data) < 2e-6, `eps ${eps}`);
    t.deepEqual(Array.from(r.queries), Array.from(get(S, `eps${eps}.q30.queries`).data), `eps ${eps} queries`);
  }
});
