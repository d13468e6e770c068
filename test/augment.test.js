// Augmentations: every deterministic operation against torchvision 0.14's functional transforms
// (test/fixtures/augment/make_augment_fixtures.py), every random one on its distribution over many
// seeded draws against moments and integrals computed here (Beta moments, CutMix box areas,
// erased shares, RandAugment frequencies and magnitudes), soft-target CE with label smoothing
// against float64, and fit, the worker API and `lkvit train --augment` with named specs.
'use strict';
const test = require('ava');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { lk, rng } = require('./helpers');
const { runCli } = require('./cli_run');

const A = lk.augment;
const fixtures = lk.readSafetensors(path.join(__dirname, 'fixtures', 'augment', 'ops.safetensors'));
const fx = (key) => fixtures.tensors.get(key);
const IMAGENET_MEAN = [0.485, 0.456, 0.406],
  IMAGENET_STD = [0.229, 0.224, 0.225];

function maxAbsDiff(a, b) {
  let e = 0;
  for (let i = 0; i < b.length; i++) e = Math.max(e, Math.abs(a[i] - b[i]));
  return a.length === b.length ? e : Infinity;
}

// ---- deterministic operations vs torchvision --------------------------------------------------

const INTEGER_INPUTS = new Set(['xq', 'xeq']);
const RUN = {
  rotate: (x, c) => A.rotate(x, c.angle, { interpolation: c.interpolation, fill: c.fill }),
  affine: (x, c) =>
    A.affine(x, {
      angle: c.angle,
      translate: c.translate,
      scale: c.scale,
      shear: c.shear,
      center: c.center,
      interpolation: c.interpolation,
      fill: c.fill,
    }),
  posterize: (x, c) => A.posterize(x, c.bits),
  solarize: (x, c) => A.solarize(x, c.threshold),
  solarizeAdd: (x, c) => A.solarizeAdd(x, c.add, c.threshold),
  equalize: (x) => A.equalize(x),
  autocontrast: (x) => A.autocontrast(x),
  invert: (x) => A.invert(x),
  adjustBrightness: (x, c) => A.adjustBrightness(x, c.factor),
  adjustSaturation: (x, c) => A.adjustSaturation(x, c.factor),
  adjustContrast: (x, c) => A.adjustContrast(x, c.factor),
  adjustSharpness: (x, c) => A.adjustSharpness(x, c.factor),
  erase: (x, c) => A.erase(x, c.top, c.left, c.height, c.width, c.value),
};

test('every deterministic operation matches torchvision 0.14 on the fixtures (integer ops exactly in uint8 steps)', (t) => {
  const cases = JSON.parse(fixtures.metadata.cases);
  t.is(fixtures.metadata.torchvision.slice(0, 4), '0.14');
  t.deepEqual([...new Set(cases.map((c) => c.op))].sort(), Object.keys(RUN).sort(), 'every operation has fixtures');
  for (const c of cases) {
    const input = fx(c.input),
      integer = INTEGER_INPUTS.has(c.input);
    const x = lk.tensor(integer ? input.data.map((v) => v / 255) : input.data.slice(), input.shape);
    const got = RUN[c.op](x, c),
      want = fx(c.key).data;
    t.deepEqual(got.shape, input.shape, c.key);
    if (integer)
      t.deepEqual(
        Array.from(got.data, (v) => Math.round(v * 255)),
        Array.from(want),
        c.key,
      );
    else t.true(maxAbsDiff(got.data, want) <= 2e-6, `${c.key}: max |diff| ${maxAbsDiff(got.data, want)}`);
    if (c.key !== 'autocontrast')
      t.true(maxAbsDiff(want, input.data) > 1e-3, `${c.key} changes its input (a real check)`);
  }
});

test('operations reject bad arguments with the argument named', (t) => {
  const x = lk.tensor(new Float32Array(2 * 3 * 4 * 4).fill(0.5), [2, 3, 4, 4]);
  t.throws(() => A.posterize(x, 9), { message: /posterize: bits must be an integer in \[0, 8\], got 9/ });
  t.throws(() => A.solarize(x, -1), { message: /solarize: threshold must be a number in \[0, 256\]/ });
  t.throws(() => A.rotate(x, 10, { fill: [0, 0] }), { message: /rotate: fill must be a number or 3 numbers/ });
  t.throws(() => A.rotate(x, 10, { interpolation: 'bicubic' }), {
    message: /interpolation must be 'bilinear' or 'nearest', got 'bicubic'/,
  });
  t.throws(() => A.affine(x, { sheer: [1, 0] }), { message: /affine: unknown option 'sheer'/ });
  t.throws(() => A.adjustContrast(lk.tensor(new Float32Array(12), [3, 4]), 1), {
    message: /x must be \[N, C, H, W\], got 2 dimensions/,
  });
  t.throws(() => A.erase(x, 2, 2, 3, 1), { message: /erase: height must be an integer in \[0, 2\], got 3/ });
  t.throws(() => A.adjustBrightness(x, -1), {
    message: /adjustBrightness: factor must be a number in \[0, Infinity\]/,
  });
});

// ---- RandAugment ---------------------------------------------------------------------------------

// timm's level functions at M = 9, written out from auto_augment.py: |argument| per operation.
const LEVEL_AT_9 = {
  Rotate: 27,
  Posterize: 3,
  PosterizeIncreasing: 1,
  Solarize: 230,
  SolarizeIncreasing: 26,
  SolarizeAdd: 99,
  Color: 1.72,
  Contrast: 1.72,
  Brightness: 1.72,
  Sharpness: 1.72,
  ShearX: 0.27,
  ShearY: 0.27,
  TranslateXRel: 0.405,
  TranslateYRel: 0.405,
};
const NEGATED = new Set(['Rotate', 'ShearX', 'ShearY', 'TranslateXRel', 'TranslateYRel']);

test("RandAugment maps magnitude to timm's arguments and applies each operation as the torchvision-checked functional op", (t) => {
  t.deepEqual(A.RAND_TRANSFORMS.length, 15);
  t.false(A.RAND_TRANSFORMS.includes('Cutout'));
  const r = rng(3),
    data = lk.tensor(
      Float32Array.from({ length: 2 * 3 * 10 * 12 }, () => r.next()),
      [2, 3, 10, 12],
    );
  const fill = [124 / 255, 116 / 255, 104 / 255];
  const functional = {
    AutoContrast: (x) => A.autocontrast(x),
    Equalize: (x) => A.equalize(x),
    Invert: (x) => A.invert(x),
    Rotate: (x, a) => A.rotate(x, a, { fill }),
    Posterize: (x, b) => A.posterize(x, b),
    Solarize: (x, v) => A.solarize(x, v),
    SolarizeAdd: (x, v) => A.solarizeAdd(x, v, 128),
    Color: (x, f) => A.adjustSaturation(x, f),
    Contrast: (x, f) => A.adjustContrast(x, f),
    Brightness: (x, f) => A.adjustBrightness(x, f),
    Sharpness: (x, f) => A.adjustSharpness(x, f),
    ShearX: (x, s) => A.affine(x, { shear: [(Math.atan(s) * 180) / Math.PI, 0], center: [0, 0], fill }),
    ShearY: (x, s) => A.affine(x, { shear: [0, (Math.atan(s) * 180) / Math.PI], center: [0, 0], fill }),
    TranslateXRel: (x, f) => A.affine(x, { translate: [f * 12, 0], fill }),
    TranslateYRel: (x, f) => A.affine(x, { translate: [0, f * 10], fill }),
  };
  for (const op of A.RAND_AUGMENT_OPS) {
    const base = op.replace('Increasing', '');
    const cfg = A.checkRandAugment('test', { name: 'randaugment', magnitude: 9, numOps: 1, prob: 1, ops: [op] });
    const signs = new Set();
    for (let s = 0; s < 12; s++) {
      const [p] = A.randAugmentPlan(cfg, new lk.Rng(s));
      t.true(p.applied && p.op === op && p.magnitude === 9);
      if (op.endsWith('Increasing') && !op.startsWith('Posterize') && !op.startsWith('Solarize')) {
        t.true(Math.abs(Math.abs(p.arg - 1) - 0.81) < 1e-12, `${op}: 1 +- 0.81, got ${p.arg}`);
        signs.add(Math.sign(p.arg - 1));
      } else if (op in LEVEL_AT_9) {
        t.true(Math.abs(Math.abs(p.arg) - LEVEL_AT_9[op]) < 1e-12, `${op}: |arg| ${LEVEL_AT_9[op]}, got ${p.arg}`);
        if (NEGATED.has(op)) signs.add(Math.sign(p.arg));
        else t.true(p.arg > 0);
      } else t.is(p.arg, undefined, `${op} takes no argument`);
    }
    if (NEGATED.has(op) || (op.endsWith('Increasing') && /^(Color|Contrast|Brightness|Sharpness)/.test(op)))
      t.is(signs.size, 2, `${op} is negated at random`);
    // The same draws through randAugment on a batch: every sample as the functional op.
    const out = A.randAugment(data, cfg, new lk.Rng(40), IMAGENET_MEAN),
      planRng = new lk.Rng(40);
    for (let n = 0; n < 2; n++) {
      const [p] = A.randAugmentPlan(cfg, planRng);
      const one = lk.tensor(data.data.slice(n * 360, (n + 1) * 360), [1, 3, 10, 12]);
      const want = functional[base](one, p.arg).data;
      t.true(maxAbsDiff(out.data.subarray(n * 360, (n + 1) * 360), want) < 1e-6, `${op} sample ${n}`);
    }
  }
});

// E[clip(X, 0, hi)] and Var for X ~ N(mu, sd): the moments of timm's clipped magnitude noise.
function clippedNormalMoments(mu, sd, hi) {
  const erf = (x) => {
    // Abramowitz-Stegun 7.1.26 is too coarse; integrate the density instead.
    let s = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) {
      const u = (x * (i + 0.5)) / n;
      s += Math.exp(-u * u);
    }
    return (2 / Math.sqrt(Math.PI)) * s * (x / n);
  };
  const Phi = (z) => 0.5 * (1 + erf(z / Math.SQRT2)),
    phi = (z) => Math.exp((-z * z) / 2) / Math.sqrt(2 * Math.PI);
  let m1 = 0,
    m2 = 0; // numeric over the density below hi (0 is 18 sd away), plus the mass at hi
  const a = (hi - mu) / sd,
    steps = 20000,
    lo = -12;
  for (let i = 0; i < steps; i++) {
    const z = lo + ((a - lo) * (i + 0.5)) / steps,
      w = (phi(z) * (a - lo)) / steps,
      v = mu + sd * z;
    m1 += w * v;
    m2 += w * v * v;
  }
  const tail = 1 - Phi(a);
  m1 += tail * hi;
  m2 += tail * hi * hi;
  return { mean: m1, variance: m2 - m1 * m1 };
}

test('RandAugment: operation frequencies, the application share and the noisy magnitude over 20,000 seeded images', (t) => {
  const draws = 20000;
  const cases = [
    { spec: 'rand-m9-mstd0.5', ops: A.RAND_TRANSFORMS, moments: clippedNormalMoments(9, 0.5, 10) },
    {
      spec: 'rand-m9-mstd101-inc1-n3-p0.7',
      ops: A.RAND_INCREASING_TRANSFORMS,
      moments: { mean: 4.5, variance: 81 / 12 },
    },
  ];
  for (const c of cases) {
    const [stage] = A.parseAugment('test', c.spec);
    const counts = Object.fromEntries(c.ops.map((o) => [o, 0]));
    let applied = 0,
      slots = 0,
      m1 = 0,
      m2 = 0;
    const r = new lk.Rng(7);
    for (let i = 0; i < draws; i++)
      for (const p of A.randAugmentPlan(stage, r)) {
        slots++;
        counts[p.op]++;
        if (!p.applied) continue;
        applied++;
        m1 += p.magnitude;
        m2 += p.magnitude * p.magnitude;
      }
    t.is(slots, draws * stage.numOps, `${c.spec}: n ops per image`);
    const q = 1 / c.ops.length,
      sd = Math.sqrt(slots * q * (1 - q));
    for (const o of c.ops)
      t.true(
        Math.abs(counts[o] - slots * q) < 5 * sd,
        `${c.spec} ${o}: ${counts[o]} vs ${slots * q} +- ${sd.toFixed(0)}`,
      );
    const share = applied / slots;
    t.true(
      Math.abs(share - stage.prob) < 5 * Math.sqrt((stage.prob * (1 - stage.prob)) / slots),
      `${c.spec}: applied share ${share}`,
    );
    const mean = m1 / applied,
      variance = m2 / applied - mean * mean;
    t.true(
      Math.abs(mean - c.moments.mean) < 5 * Math.sqrt(c.moments.variance / applied),
      `${c.spec}: magnitude mean ${mean} vs ${c.moments.mean}`,
    );
    t.true(
      Math.abs(variance / c.moments.variance - 1) < 0.06,
      `${c.spec}: magnitude variance ${variance} vs ${c.moments.variance}`,
    );
  }
});

// ---- MixUp / CutMix ------------------------------------------------------------------------------

function moments(values) {
  const n = values.length;
  const mean = values.reduce((s, v) => s + v, 0) / n;
  const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / n;
  const m4 = values.reduce((s, v) => s + (v - mean) ** 4, 0) / n;
  return { mean, variance, seVariance: Math.sqrt((m4 - variance * variance) / n), seMean: Math.sqrt(variance / n) };
}

test('lambda ~ Beta(alpha, alpha): mean 1/2 and variance 1 / (4 (2 alpha + 1)) over 20,000 draws', (t) => {
  for (const alpha of [0.2, 0.8, 2]) {
    const r = new lk.Rng(100 + alpha * 10);
    const m = moments(Array.from({ length: 20000 }, () => A.beta(r, alpha, alpha)));
    t.true(Math.abs(m.mean - 0.5) < 5 * m.seMean, `alpha ${alpha}: mean ${m.mean}`);
    const want = 1 / (4 * (2 * alpha + 1));
    t.true(Math.abs(m.variance - want) < 5 * m.seVariance, `alpha ${alpha}: variance ${m.variance} vs ${want}`);
  }
  // Asymmetric: Beta(2, 5) has mean 2/7 (gamma draws both branches of Marsaglia-Tsang).
  const r = new lk.Rng(5),
    m = moments(Array.from({ length: 20000 }, () => A.beta(r, 2, 5)));
  t.true(Math.abs(m.mean - 2 / 7) < 5 * m.seMean);
});

function batchOf(N, C, H, W, seed) {
  const r = rng(seed);
  return lk.tensor(
    Float32Array.from({ length: N * C * H * W }, () => r.next()),
    [N, C, H, W],
  );
}

test('MixUp (batch mode): x is lam x + (1 - lam) flip(x), prob and switch prob hold, lambda follows Beta', (t) => {
  const N = 4,
    C = 2,
    H = 6,
    W = 5,
    size = C * H * W,
    K = 3;
  const x = batchOf(N, C, H, W, 1),
    y = Int32Array.from([0, 1, 2, 1]);
  const mix = A.checkMix('test', [{ name: 'mixup', alpha: 0.8, prob: 0.6 }]);
  const r = new lk.Rng(9),
    lams = [];
  let unmixed = 0;
  for (let k = 0; k < 4000; k++) {
    const m = A.mixBatch(mix, x, y, K, 0, r);
    t.true(m.cutmix.every((c) => !c));
    if (m.lam[0] === 1) {
      unmixed++;
      continue;
    }
    t.true(
      m.lam.every((l) => l === m.lam[0]),
      'one lambda per batch',
    );
    lams.push(m.lam[0]);
    if (k < 50) {
      for (let i = 0; i < N; i++)
        for (let e = 0; e < size; e++) {
          const want = x.data[i * size + e] * m.lam[0] + x.data[(N - 1 - i) * size + e] * (1 - m.lam[0]);
          if (Math.abs(m.x.data[i * size + e] - want) > 1e-6) return t.fail(`sample ${i} element ${e}`);
        }
    }
  }
  t.true(Math.abs(unmixed / 4000 - 0.4) < 5 * Math.sqrt(0.24 / 4000), `unmixed share ${unmixed / 4000}`);
  const m = moments(lams);
  t.true(Math.abs(m.variance - 1 / 10.4) < 5 * m.seVariance, `variance ${m.variance}`);

  const both = A.checkMix('test', [{ name: 'mixup' }, { name: 'cutmix', switchProb: 0.3 }]);
  let cut = 0;
  for (let k = 0; k < 4000; k++) if (A.mixBatch(both, x, y, K, 0, r).cutmix[0]) cut++;
  t.true(Math.abs(cut / 4000 - 0.3) < 5 * Math.sqrt(0.21 / 4000), `CutMix share ${cut / 4000}`);
});

test('CutMix: the box is pasted from the flipped sample, lambda is its true area, and E[area] matches the integral over lambda and centres', (t) => {
  const N = 2,
    C = 1,
    H = 8,
    W = 10,
    HW = H * W,
    K = 2;
  const x = lk.tensor(
    Float32Array.from({ length: N * HW }, (_, i) => (i < HW ? 0 : 1)),
    [N, C, H, W],
  );
  const mix = A.checkMix('test', [{ name: 'cutmix', alpha: 1 }]);
  const r = new lk.Rng(21),
    draws = 20000,
    areas = [];
  for (let k = 0; k < draws; k++) {
    const m = A.mixBatch(mix, x, Int32Array.from([0, 1]), K, 0, r);
    const pasted = m.x.data.subarray(0, HW).reduce((s, v) => s + v, 0); // sample 0 is 0s, its partner 1s
    t.is(m.lam[0], 1 - pasted / HW);
    if (m.x.data.subarray(HW).reduce((s, v) => s + (1 - v), 0) !== pasted)
      return t.fail('sample 1 gets the same box from sample 0');
    areas.push(pasted / HW);
  }
  // The reference: lambda ~ U(0, 1) (Beta(1, 1)), centre uniform over the pixels, box sides
  // 2 * floor(floor(side * sqrt(1 - lambda)) / 2) centred there, clipped to the image.
  let want = 0;
  const steps = 4000;
  for (let s = 0; s < steps; s++) {
    const lam = (s + 0.5) / steps,
      ch = Math.floor(H * Math.sqrt(1 - lam)),
      cw = Math.floor(W * Math.sqrt(1 - lam));
    let sum = 0;
    for (let cy = 0; cy < H; cy++)
      for (let cx = 0; cx < W; cx++) {
        const rows = Math.min(H, cy + Math.floor(ch / 2)) - Math.max(0, cy - Math.floor(ch / 2));
        const cols = Math.min(W, cx + Math.floor(cw / 2)) - Math.max(0, cx - Math.floor(cw / 2));
        sum += rows * cols;
      }
    want += sum / (HW * HW) / steps;
  }
  const m = moments(areas);
  t.true(Math.abs(m.mean - want) < 5 * m.seMean, `E[area] ${m.mean} vs ${want}`);
  // Without correction, lambda stays the drawn one; minMax draws sides in [min, max) of the image.
  const raw = A.checkMix('test', [{ name: 'cutmix', correctLam: false }]);
  const lamsRaw = Array.from({ length: 4000 }, () => A.mixBatch(raw, x, Int32Array.from([0, 1]), K, 0, r).lam[0]);
  t.true(
    lamsRaw.some((l) => Math.abs(l * HW - Math.round(l * HW)) > 1e-3),
    'uncorrected lambda is not a pixel count',
  );
  for (let k = 0; k < 200; k++) {
    const b = A.cutmixBox(40, 50, 0.5, r, [0.2, 0.6]);
    t.true(b.yh - b.yl >= 8 && b.yh - b.yl < 24 && b.xh - b.xl >= 10 && b.xh - b.xl < 30 && b.yh <= 40 && b.xh <= 50);
  }
});

test("pair and elem modes mix each sample (pair) with its own lambda; targets are timm's mixup_target", (t) => {
  const N = 6,
    C = 1,
    H = 4,
    W = 4,
    size = C * H * W,
    K = 4,
    smoothing = 0.1;
  const x = batchOf(N, C, H, W, 4),
    y = Int32Array.from([0, 1, 2, 3, 1, 0]);
  for (const mode of ['pair', 'elem']) {
    const mix = A.checkMix('test', [{ name: 'mixup', alpha: 1, mode }]);
    const m = A.mixBatch(mix, x, y, K, smoothing, new lk.Rng(3));
    t.is(new Set(m.lam).size, mode === 'pair' ? N / 2 : N, `${mode}: distinct lambdas`);
    for (let i = 0; i < N; i++) {
      if (mode === 'pair') t.is(m.lam[i], m.lam[N - 1 - i]);
      for (let e = 0; e < size; e++) {
        const want = x.data[i * size + e] * m.lam[i] + x.data[(N - 1 - i) * size + e] * (1 - m.lam[i]);
        t.true(Math.abs(m.x.data[i * size + e] - want) < 1e-6);
      }
      for (let k = 0; k < K; k++) {
        const oh = (c) => (k === c ? 1 - smoothing + smoothing / K : smoothing / K);
        t.true(Math.abs(m.targets.data[i * K + k] - (m.lam[i] * oh(y[i]) + (1 - m.lam[i]) * oh(y[N - 1 - i]))) < 1e-6);
      }
    }
  }
});

test('soft-target cross-entropy with label smoothing equals a float64 reference, value and gradient', (t) => {
  const N = 6,
    K = 5,
    smoothing = 0.1,
    r = rng(8);
  const z = Array.from({ length: N * K }, () => Math.fround(r.uniform(-3, 3)));
  const y = Int32Array.from([4, 0, 2, 2, 1, 3]),
    lam = [0.9, 0.3, 0.5, 1, 0.05, 0.62];
  const targets = A.mixupTarget(y, K, lam, smoothing);
  const logits = lk.tensor(Float32Array.from(z), [N, K], { requiresGrad: true });
  const loss = A.softTargetCrossEntropy(logits, targets);
  loss.backward();
  let want = 0;
  const grad = [];
  for (let i = 0; i < N; i++) {
    const row = z.slice(i * K, (i + 1) * K),
      mx = Math.max(...row),
      lse = mx + Math.log(row.reduce((s, v) => s + Math.exp(v - mx), 0));
    for (let k = 0; k < K; k++) {
      const oh = (c) => (k === c ? 1 - smoothing + smoothing / K : smoothing / K);
      const tk = lam[i] * oh(y[i]) + (1 - lam[i]) * oh(y[N - 1 - i]);
      want -= (tk * (row[k] - lse)) / N;
      grad.push((Math.exp(row[k] - lse) - tk) / N);
    }
  }
  t.true(Math.abs(loss.data[0] - want) < 1e-6 * Math.abs(want), `${loss.data[0]} vs ${want}`);
  t.true(maxAbsDiff(logits.grad.data, grad) < 1e-7);
  // Unmixed (lambda 1) soft targets give the label-smoothed cross-entropy of ops.crossEntropy.
  const plain = A.softTargetCrossEntropy(logits, A.mixupTarget(y, K, new Array(N).fill(1), smoothing)).data[0];
  t.true(Math.abs(plain - lk.ops.crossEntropy(logits, y, { labelSmoothing: smoothing }).data[0]) < 1e-6);
});

// ---- Random Erasing ------------------------------------------------------------------------------

// P(erased) and E[share | erased] for one box, by integrating timm's draw over a grid of (area,
// log aspect) with its 10 tries: the expected share of erased pixels.
function expectedErasedShare(H, W, prob, minArea, maxArea, minAspect, maxAspect) {
  const n = 1500,
    A_ = H * W;
  let accept = 0,
    area = 0;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      const s = minArea + ((maxArea - minArea) * (i + 0.5)) / n;
      const r = Math.exp(Math.log(minAspect) + ((Math.log(maxAspect) - Math.log(minAspect)) * (j + 0.5)) / n);
      const h = Math.round(Math.sqrt(s * A_ * r)),
        w = Math.round(Math.sqrt((s * A_) / r));
      if (w < W && h < H) {
        accept += 1 / (n * n);
        area += (h * w) / A_ / (n * n);
      }
    }
  return prob * (1 - (1 - accept) ** 10) * (area / accept);
}

test('Random Erasing: the share of erased pixels over 6,400 samples matches the integral; fills follow the mode', (t) => {
  const N = 64,
    C = 3,
    H = 16,
    W = 16,
    HW = H * W;
  const x = lk.tensor(new Float32Array(N * C * HW).fill(5), [N, C, H, W]);
  const [stage] = A.parseAugment('test', { name: 'erase', prob: 0.5, mode: 'const' });
  t.deepEqual([stage.minArea, stage.maxArea, stage.minAspect, stage.maxAspect], [0.02, 1 / 3, 0.3, 1 / 0.3]);
  const r = new lk.Rng(12),
    shares = [];
  for (let k = 0; k < 100; k++) {
    const out = A.randomErasing(x, stage, r, IMAGENET_MEAN, IMAGENET_STD).data;
    for (let n = 0; n < N; n++) {
      let erased = 0;
      for (let p = 0; p < HW; p++)
        if (out[n * C * HW + p] !== 5) {
          erased++;
          for (let c = 0; c < C; c++)
            if (Math.abs(out[(n * C + c) * HW + p] - IMAGENET_MEAN[c]) > 1e-7)
              return t.fail("'const' writes the mean (timm's 0 after normalisation)");
        }
      shares.push(erased / HW);
    }
  }
  const want = expectedErasedShare(H, W, 0.5, 0.02, 1 / 3, 0.3, 1 / 0.3),
    m = moments(shares);
  t.true(Math.abs(m.mean - want) < 5 * m.seMean, `erased share ${m.mean} vs ${want}`);

  // 'pixel': per-pixel mean + std * N(0, 1); 'rand': one value per channel and box.
  const [pixel] = A.parseAugment('test', 'erase-p1-pixel');
  const [rand] = A.parseAugment('test', 'erase-p1-rand');
  const values = [[], [], []];
  const outP = A.randomErasing(x, pixel, new lk.Rng(2), IMAGENET_MEAN, IMAGENET_STD).data;
  const outR = A.randomErasing(x, rand, new lk.Rng(2), IMAGENET_MEAN, IMAGENET_STD).data;
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++) {
      const inBox = new Set();
      for (let p = 0; p < HW; p++)
        if (outP[(n * C + c) * HW + p] !== 5)
          values[c].push((outP[(n * C + c) * HW + p] - IMAGENET_MEAN[c]) / IMAGENET_STD[c]);
      for (let p = 0; p < HW; p++) if (outR[(n * C + c) * HW + p] !== 5) inBox.add(outR[(n * C + c) * HW + p]);
      t.true(inBox.size <= 1, "'rand' fills a box with one value per channel");
    }
  for (const v of values) {
    const m2 = moments(v);
    t.true(
      Math.abs(m2.mean) < 5 * m2.seMean && Math.abs(m2.variance - 1) < 5 * m2.seVariance,
      `pixel fill ~ N(0, 1) in normalised units: ${m2.mean}, ${m2.variance}`,
    );
  }
  // count 1..3 uniform: the boxes of one sample.
  const [multi] = A.parseAugment('test', { name: 'erase', prob: 1, minCount: 1, maxCount: 3 });
  const counts = [0, 0, 0, 0],
    rc = new lk.Rng(4);
  for (let k = 0; k < 3000; k++) counts[A.erasingBoxes(multi, rc, 32, 32).length]++;
  for (const c of [1, 2, 3])
    t.true(Math.abs(counts[c] - 1000) < 5 * Math.sqrt((3000 * 2) / 9), `count ${c}: ${counts[c]}`);
  // Boxes lie inside the image with sides strictly below its own (timm's w < img_w and h < img_h):
  // an area of 90-100% of a 4x4 image never fits, so no box is ever drawn there.
  for (let k = 0; k < 500; k++)
    for (const b of A.erasingBoxes(multi, rc, 12, 20))
      t.true(
        b.height >= 1 &&
          b.width >= 1 &&
          b.height < 12 &&
          b.width < 20 &&
          b.top + b.height <= 12 &&
          b.left + b.width <= 20,
      );
  const [huge] = A.parseAugment('test', { name: 'erase', prob: 1, minArea: 0.9, maxArea: 1 });
  t.true(Array.from({ length: 200 }, () => A.erasingBoxes(huge, rc, 4, 4).length).every((n) => n === 0));
});

// ---- specs, fit, worker, CLI ---------------------------------------------------------------------

test('named specs: timm strings and objects parse to the same stages; bad specs say what is expected', (t) => {
  const same = (a, b) => t.deepEqual(A.parseAugment('fit', a), A.parseAugment('fit', b));
  same('rand-m9-mstd0.5-inc1', { name: 'randaugment', magnitude: 9, magnitudeStd: 0.5, increasing: true });
  same('rand', { name: 'randaugment', magnitude: 10, numOps: 2 });
  same('randaugment', 'rand');
  same('rand-inc0', 'rand');
  same(['erase-p0.25-pixel-c2'], [{ name: 'erase', prob: 0.25, mode: 'pixel', maxCount: 2 }]);
  same(
    ['mixup-a0.8', 'cutmix-a1-s0.3-elem'],
    [
      { name: 'mixup', alpha: 0.8 },
      { name: 'cutmix', alpha: 1, switchProb: 0.3, mode: 'elem' },
    ],
  );
  t.deepEqual(A.parseAugment('fit', ['mixup', 'cutmix']), [
    {
      name: 'mix',
      mixupAlpha: 0.8,
      cutmixAlpha: 1,
      minMax: null,
      prob: 1,
      switchProb: 0.5,
      mode: 'batch',
      correctLam: true,
    },
  ]);
  t.deepEqual(A.parseAugmentText('train', 'rand-m9,mixup'), ['rand-m9', 'mixup']);
  t.deepEqual(A.parseAugmentText('train', '[{"name":"cutmix","alpha":1}]'), [{ name: 'cutmix', alpha: 1 }]);
  const bad = (spec, re) => t.throws(() => A.parseAugment('fit', spec), { message: re });
  bad(
    'autoaugment',
    /fit: unknown augmentation "autoaugment"; expected rand-\.\.\., erase-\.\.\., mixup-\.\.\. or cutmix-\.\.\./,
  );
  bad('rand-m9-x3', /unknown RandAugment section "x"/);
  bad('rand-mnine', /RandAugment section "mnine" .* is not <key><number>/);
  bad(
    'erase-p0.25-blue',
    /section "blue" of "erase-p0.25-blue" is not one of p<number>, c<number>, const, rand, pixel/,
  );
  bad(
    ['mixup', 'erase'],
    /fit: augment\[1\] \(erase\) comes after mixup\/cutmix; they mix the labels and must come last/,
  );
  bad(['mixup', 'mixup'], /mixup is given twice/);
  bad(
    [
      { name: 'mixup', mode: 'pair' },
      { name: 'cutmix', mode: 'batch' },
    ],
    /mixup and cutmix give different mode/,
  );
  bad(
    { name: 'randaugment', magnitude: -1 },
    /augment randaugment.magnitude must be a number in \[0, 1000000\], got -1/,
  );
  bad({ name: 'randaugment', ops: ['Cutout'] }, /augment randaugment.ops has "Cutout"; known: AutoContrast/);
  bad({ name: 'erase', mode: 'noise' }, /augment erase.mode must be one of 'const', 'rand' or 'pixel'/);
  bad({ name: 'erase', probability: 0.5 }, /unknown option 'probability' of augment erase/);
  bad({ name: 'mixup', alpha: 0 }, /augment mixup.alpha must be > 0 \(leave the spec out/);
  bad({ name: 'blur' }, /augment.name must be one of 'randaugment', 'erase', 'mixup' or 'cutmix', got 'blur'/);
  bad([42], /augment\[0\] must be a function, a string such as 'rand-m9-mstd0.5' or an object/);
  t.throws(() => A.parseAugmentText('train', '[{"name":'), { message: /--augment is not valid JSON/ });
});

const CONFIG = {
  kernelSizes: [5, 3],
  layers: [1, 1],
  channels: [8, 8],
  smallKernel: 3,
  dwRatio: 1,
  ffnRatio: 2,
  numClasses: 4,
  stemStride: 2,
  dropPathRate: 0.1,
};
const tiny = () => lk.createModel('replknet31b', CONFIG);
function raw(n, seed) {
  const r = rng(seed);
  return {
    x: Float32Array.from({ length: n * 3 * 16 * 16 }, () => r.next()),
    y: Int32Array.from({ length: n }, (_, i) => i % 4),
  };
}
const data = (n, seed) => {
  const d = raw(n, seed);
  return lk.tensorDataset(lk.tensor(d.x, [n, 3, 16, 16]), d.y);
};
const SPECS = ['rand-m9-mstd0.5-inc1', 'erase-p0.5', 'mixup', 'cutmix'];

test('fit with every augmentation under PGD-AT: an aborted run resumed from its checkpoint ends bit-identical; other specs refuse to resume', async (t) => {
  const ds = data(16, 1);
  const options = (extra) => ({
    epochs: 2,
    batchSize: 8,
    seed: 3,
    labelSmoothing: 0.1,
    optimizer: { type: 'adamw', lr: 3e-3, weightDecay: 0.05 },
    adversarial: { method: 'pgd-at', eps: 0.03, steps: 1 },
    augment: SPECS,
    ...extra,
  });
  lk.manualSeed(1);
  const whole = tiny();
  const full = await lk.fit(whole, ds, options({}));
  t.true(full.history.every((h) => Number.isFinite(h.trainLoss)));
  lk.manualSeed(1);
  const plain = tiny();
  const none = await lk.fit(plain, ds, options({ augment: undefined }));
  t.notDeepEqual(none.history[0].trainLoss, full.history[0].trainLoss, 'the augmentations change the training');

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lkvit-augment-'));
  const ckpt = path.join(dir, 'run.safetensors');
  lk.manualSeed(1);
  const stop = { aborted: false };
  const err = await t.throwsAsync(
    lk.fit(
      tiny(),
      ds,
      options({
        checkpoint: ckpt,
        signal: stop,
        onStep: (s) => {
          if (s.epoch === 2) stop.aborted = true;
        },
      }),
    ),
  );
  t.is(err.name, 'AbortError');
  lk.manualSeed(99);
  const resumed = tiny();
  await lk.fit(resumed, ds, options({ checkpoint: ckpt, resume: true }));
  for (const [k, v] of whole.stateDict()) t.deepEqual(resumed.stateDict().get(k).data, v.data, k);
  await t.throwsAsync(
    lk.fit(tiny(), ds, options({ checkpoint: ckpt, resume: true, augment: ['rand-m9-mstd0.5-inc1', 'mixup'] })),
    { message: /written with other settings/ },
  );
  fs.rmSync(dir, { recursive: true });
  await t.throwsAsync(lk.fit(tiny(), ds, options({ batchSize: 5 })), {
    message: /fit: mixup\/cutmix pair each sample with the batch's flip; batchSize must be even, got 5/,
  });
  await t.throwsAsync(lk.fit(tiny(), ds, options({ augment: 'rand-m9-q1' })), {
    message: /unknown RandAugment section "q"/,
  });
});

test('fit: TRADES with CutMix trains; a lone function keeps its (seed, step) stream; a function composes with named specs', async (t) => {
  const ds = data(16, 2);
  lk.manualSeed(2);
  const r = await lk.fit(tiny(), ds, {
    epochs: 1,
    batchSize: 8,
    adversarial: { method: 'trades', eps: 0.03, steps: 1 },
    augment: 'cutmix',
  });
  t.true(Number.isFinite(r.history[0].trainLoss));
  const seen = [];
  const record = (x, g) => (seen.push(g.nextUint32()), x);
  await lk.fit(tiny(), ds, { epochs: 1, batchSize: 8, seed: 4, augment: record });
  t.deepEqual(
    seen,
    [0, 1].map((step) => lk.Rng.keyed(4, 2, step).nextUint32()),
    'a lone function gets Rng.keyed(seed, 2, step) as before',
  );
  const composed = [];
  await lk.fit(tiny(), ds, {
    epochs: 1,
    batchSize: 8,
    seed: 4,
    augment: [(x) => (composed.push(x.shape[0]), x), 'mixup'],
  });
  t.deepEqual(composed, [8, 8]);
});

test('the worker API takes named specs: lk.background.fit equals fit; functions are refused there', async (t) => {
  const ds = data(16, 5);
  const options = {
    epochs: 1,
    batchSize: 8,
    seed: 6,
    augment: ['rand-m9-mstd0.5', { name: 'erase', prob: 0.5, mode: 'rand' }, 'mixup-a0.4'],
    labelSmoothing: 0.1,
  };
  lk.manualSeed(3);
  const sync = tiny();
  lk.manualSeed(3);
  const bg = tiny();
  const want = await lk.fit(sync, ds, options);
  const got = await lk.background.fit(bg, ds, options);
  t.deepEqual(
    got.history.map((h) => h.trainLoss),
    want.history.map((h) => h.trainLoss),
  );
  for (const [k, v] of sync.stateDict()) t.deepEqual(bg.stateDict().get(k).data, v.data, k);
  await t.throwsAsync(lk.background.fit(bg, ds, { ...options, augment: 'mixup-a0' }), {
    message: /augment mixup.alpha must be > 0/,
  });
  await t.throwsAsync(lk.background.fit(bg, ds, { ...options, augment: [(x) => x, 'mixup'] }), {
    message: /options.augment\[0\] is a function/,
  });
  await lk.background.close();
});

test('lkvit train --augment equals fit() with the same specs; bad specs exit 2 naming the flag', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lkvit-augment-cli-'));
  const d = raw(16, 7),
    ds = data(16, 7);
  const input = path.join(dir, 'train.safetensors'),
    out = path.join(dir, 'w.safetensors');
  lk.writeSafetensors(input, {
    x: { shape: [16, 3, 16, 16], data: d.x },
    y: { shape: [16], data: Float32Array.from(d.y) },
  });
  const base = [
    'train',
    '--model',
    'replknet31b',
    '--config',
    JSON.stringify(CONFIG),
    '--input',
    input,
    '--epochs',
    '1',
    '--batch-size',
    '8',
    '--seed',
    '2',
    '--out',
    out,
    '--quiet',
  ];
  const r = await runCli([...base, '--augment', 'rand-m9-mstd0.5-inc1,erase-p0.25,mixup,cutmix']);
  t.is(r.code, 0, r.err);
  lk.manualSeed(2);
  const model = tiny();
  await lk.fit(model, ds, {
    epochs: 1,
    batchSize: 8,
    seed: 2,
    augment: ['rand-m9-mstd0.5-inc1', 'erase-p0.25', 'mixup', 'cutmix'],
  });
  const { model: loaded } = lk.loadModel('replknet31b', out, CONFIG);
  for (const [k, v] of model.stateDict()) t.deepEqual(loaded.stateDict().get(k).data, v.data, k);
  for (const [argv, re] of [
    [['--augment', 'mixup,rand-m9'], /--augment: augment\[1\] \(randaugment\) comes after mixup/],
    [['--augment', 'mixup', '--batch-size', '5'], /--batch-size must be even, got 5/],
  ]) {
    const bad = await runCli([
      ...base.filter(
        (a, i) => !(argv.includes('--batch-size') && (a === '--batch-size' || base[i - 1] === '--batch-size')),
      ),
      ...argv,
    ]);
    t.is(bad.code, 2);
    t.regex(bad.err, re);
  }
  fs.rmSync(dir, { recursive: true });
});
