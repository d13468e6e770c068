// The multi-seed demo's pieces that need no training: the t-test against printed tables and closed
// forms, the paired comparison against a hand computation, the grey perturbation (an attack's step
// stays in channel 0), the noise options of frequencyNoise seen from inside the model, the brightness
// shift, the CSV number format and the chart's legend and error bars.
'use strict';
const test = require('ava');
const lk = require('../lib');
const { tTwoSided, tCritical, incompleteBeta, pairedComparison, spread } = require('../lib/demo/stats');
const { greyOf, attackedModel } = require('../lib/demo/perturb');
const { brightnessShift } = require('../lib/demo/noise');
const { csvText, csvNumber, kernelLayerLabel } = require('../lib/demo/figures');
const { bandLabel } = require('../lib/demo/summary');
const { lineChart } = require('../lib/plot');

const close = (t, a, b, tol, msg) => t.true(Math.abs(a - b) <= tol, `${msg}: ${a} vs ${b}`);

test('Student t: two-sided p against printed critical values and the Cauchy closed form', (t) => {
  // t_{0.975, df} from any statistics table.
  for (const [df, crit] of [
    [1, 12.7062],
    [2, 4.3027],
    [3, 3.1824],
    [4, 2.7764],
    [7, 2.3646],
    [10, 2.2281],
    [30, 2.0423],
  ]) {
    close(t, tTwoSided(crit, df), 0.05, 2e-5, `p at t = ${crit}, df = ${df}`);
    close(t, tCritical(0.05, df), crit, 2e-4, `critical t, df = ${df}`);
  }
  // df = 1 is the Cauchy distribution: P(|T| >= t) = 1 - 2 atan(t) / pi.
  for (const x of [0.1, 0.5, 1, 3, 40])
    close(t, tTwoSided(x, 1), 1 - (2 * Math.atan(x)) / Math.PI, 1e-12, `cauchy ${x}`);
  // df = 2: P(|T| >= t) = 1 - t / sqrt(2 + t^2).
  for (const x of [0.2, 1.5, 9]) close(t, tTwoSided(x, 2), 1 - x / Math.sqrt(2 + x * x), 1e-12, `df 2 at ${x}`);
  t.is(tTwoSided(0, 5), 1);
  t.is(tTwoSided(Infinity, 5), 0);
  t.throws(() => tTwoSided(1, 0), { instanceOf: RangeError, message: /df/ });
  t.throws(() => tCritical(1.5, 3), { instanceOf: RangeError, message: /p must be in/ });
});

test('incomplete beta: closed forms and the symmetry I_x(a, b) = 1 - I_(1-x)(b, a)', (t) => {
  for (const x of [0.01, 0.3, 0.77, 0.99]) {
    close(t, incompleteBeta(x, 1, 1), x, 1e-13, 'uniform');
    close(t, incompleteBeta(x, 3, 1), x ** 3, 1e-13, 'x^a');
    close(t, incompleteBeta(x, 1, 4), 1 - (1 - x) ** 4, 1e-13, '1 - (1-x)^b');
    close(t, incompleteBeta(x, 2.5, 0.5) + incompleteBeta(1 - x, 0.5, 2.5), 1, 1e-12, 'symmetry');
  }
});

test('paired comparison: mean difference, interval and p as computed by hand; degenerate cases', (t) => {
  const a = [0.9, 0.9, 0.95, 0.95],
    b = [0.7, 0.75, 0.8, 0.7];
  // Differences 0.2, 0.15, 0.15, 0.25: mean 0.1875, t = 0.1875 / (sd / 2) with sd from the deviations.
  const d = [0.2, 0.15, 0.15, 0.25],
    mean = 0.1875;
  const sd = Math.sqrt(d.reduce((s, v) => s + (v - mean) ** 2, 0) / 3),
    se = sd / 2;
  const c = pairedComparison(a, b);
  close(t, c.meanDiff, mean, 1e-12, 'mean');
  close(t, c.ci[0], mean - 3.1824463 * se, 1e-6, 'ci low');
  close(t, c.ci[1], mean + 3.1824463 * se, 1e-6, 'ci high');
  close(t, c.p, tTwoSided(mean / se, 3), 1e-12, 'p');
  t.true(c.p < 0.05 && c.shown);
  t.deepEqual([c.n, c.wins, c.losses, c.ties], [4, 4, 0, 0]);
  // Two seeds that disagree in sign: nothing shown.
  const mixed = pairedComparison([0.5, 0.9], [0.6, 0.7]);
  t.false(mixed.shown);
  t.deepEqual([mixed.wins, mixed.losses], [1, 1]);
  // The same difference in every seed: t is undefined, the sign test's 2^(1-n) decides.
  t.is(pairedComparison([1, 2, 3], [0, 1, 2]).p, 0.25);
  t.is(pairedComparison([1, 2, 3], [0, 1, 2]).ci, null);
  t.is(pairedComparison([1, 2, 3, 4, 5, 6], [0, 1, 2, 3, 4, 5]).p, 2 / 64);
  t.is(pairedComparison([1, 2], [1, 2]).p, 1);
  // Equal up to float rounding is equal: 100 * (0.95 - 0.85) and 100 * (0.9 - 0.8) differ in the last bits.
  const rounding = pairedComparison(
    [95, 90].map((v, i) => v - [85, 80][i] + [0, 1e-14][i]),
    [0, 0],
  );
  t.is(rounding.p, 0.5);
  t.false(rounding.shown);
  const one = pairedComparison([1], [0]);
  t.is(one.p, null);
  t.false(one.shown);
  t.throws(() => pairedComparison([1, 2], [1]), { instanceOf: RangeError, message: /same non-zero length/ });
  t.deepEqual(spread([3, 1, 2]), { mean: 2, min: 1, max: 3, values: [3, 1, 2] });
  t.throws(() => spread([]), { instanceOf: RangeError });
  t.throws(() => spread([1, NaN]), { instanceOf: RangeError });
});

function tinyRepLKNet(seed) {
  lk.manualSeed(seed);
  return new lk.RepLKNet(
    {
      layers: [1, 1],
      channels: [8, 16],
      kernelSizes: [5, 3],
      smallKernel: 3,
      dwRatio: 1,
      ffnRatio: 2,
      numClasses: 10,
      stemStride: 2,
    },
    [0.13, 0.13, 0.13],
    [0.31, 0.31, 0.31],
  ).eval();
}

function greyBatch(n, side, seed) {
  const rng = new (require('../lib/tensor/random').Rng)(seed);
  const data = new Float32Array(n * 3 * side * side);
  for (let i = 0; i < n; i++)
    for (let p = 0; p < side * side; p++) {
      // A black background with a bright blob, the same on all three channels.
      const v = rng.uniform() < 0.3 ? 0.5 + 0.5 * rng.uniform() : 0;
      for (let c = 0; c < 3; c++) data[(i * 3 + c) * side * side + p] = v;
    }
  return lk.tensor(data, [n, 3, side, side]);
}

const channel = (x, n, c) => {
  const [, C, H, W] = x.shape;
  return Array.from(x.data.subarray((n * C + c) * H * W, (n * C + c + 1) * H * W));
};

test('grey perturbation: the model sees channel 0 on all three, and FGSM moves channel 0 only', (t) => {
  const model = tinyRepLKNet(3);
  const x = greyBatch(4, 16, 1);
  const shifted = lk.tensor(
    x.data.map((v, i) => (Math.floor(i / 256) % 3 === 0 ? v : 1 - v)),
    x.shape,
  );
  const g = greyOf(shifted);
  for (let n = 0; n < 4; n++) for (let c = 0; c < 3; c++) t.deepEqual(channel(g, n, c), channel(shifted, n, 0));
  const grey = attackedModel(model, 'grey');
  t.deepEqual([...grey(shifted).data], [...model.forward(g).data]);
  t.is(attackedModel(model, 'rgb'), model);
  const y = Int32Array.from([1, 2, 3, 4]);
  const adv = lk.fgsm(grey, x, y, { eps: 0.1 }).xAdv;
  let moved = 0;
  for (let n = 0; n < 4; n++) {
    for (const c of [1, 2]) t.deepEqual(channel(adv, n, c), channel(x, n, c), `sample ${n} channel ${c} unchanged`);
    moved += channel(adv, n, 0).filter((v, i) => v !== channel(x, n, 0)[i]).length;
  }
  t.true(moved > 100, `channel 0 moved at ${moved} pixels`);
  const rgbAdv = lk.fgsm(model, x, y, { eps: 0.1 }).xAdv;
  t.notDeepEqual(channel(rgbAdv, 0, 1), channel(x, 0, 1), 'rgb moves the other copies too');
});

// What frequencyNoise feeds the model, batch by batch.
function recording(model) {
  const seen = [];
  const forward = model.forward.bind(model);
  model.forward = (x) => {
    seen.push(lk.tensor(x.data.slice(), x.shape));
    return forward(x);
  };
  return seen;
}

test('frequencyNoise: shared noise keeps the copies equal, clip false leaves [0, 1], zeroFrequency false makes each band zero-mean', async (t) => {
  const x = greyBatch(3, 32, 2);
  const ds = lk.tensorDataset(x, Int32Array.from([0, 1, 2]));
  const run = async (options) => {
    const model = tinyRepLKNet(4);
    const seen = recording(model);
    const r = await lk.analyses.frequencyNoise(model, ds, {
      bands: [0, 0.5],
      noise: { std: 0.2 },
      seed: 9,
      ...options,
    });
    // seen[0] is the clean batch, then one batch per band.
    return { r, noisy: seen.slice(1) };
  };
  const shared = await run({ channels: 'shared', clip: false, zeroFrequency: false });
  t.deepEqual([shared.r.channels, shared.r.clip, shared.r.zeroFrequency], ['shared', false, false]);
  let outside = 0;
  for (const batch of shared.noisy)
    for (let n = 0; n < 3; n++) {
      t.is(batch.shape[3], 32);
      t.deepEqual(channel(batch, n, 1), channel(batch, n, 0));
      t.deepEqual(channel(batch, n, 2), channel(batch, n, 0));
      const delta = channel(batch, n, 0).map((v, i) => v - channel(x, n, 0)[i]);
      outside += channel(batch, n, 0).filter((v) => v < 0 || v > 1).length;
      const mean = delta.reduce((s, v) => s + v, 0) / delta.length;
      const rms = Math.sqrt(delta.reduce((s, v) => s + v * v, 0) / delta.length);
      t.true(Math.abs(mean) < 1e-6, `zero-mean noise, got mean ${mean}`);
      close(t, rms, 0.2, 1e-5, 'RMS');
    }
  t.true(outside > 50, 'unclamped noise leaves [0, 1]');
  const withDc = await run({ channels: 'shared', clip: false, zeroFrequency: true });
  const means = withDc.noisy
    .slice(0, 1)
    .flatMap((batch) =>
      [0, 1, 2].map((n) => channel(batch, n, 0).reduce((s, v, i) => s + v - channel(x, n, 0)[i], 0) / 1024),
    );
  t.true(
    means.some((m) => Math.abs(m) > 1e-3),
    `the lowest band with the zero frequency shifts the mean: ${means}`,
  );
  const independent = await run({});
  t.deepEqual([independent.r.channels, independent.r.clip, independent.r.zeroFrequency], ['independent', true, true]);
  for (const batch of independent.noisy) {
    t.true(
      batch.data.every((v) => v >= 0 && v <= 1),
      'clamped by default',
    );
    t.notDeepEqual(channel(batch, 0, 1), channel(batch, 0, 0), 'independent channels differ');
  }
  const model = tinyRepLKNet(4);
  await t.throwsAsync(lk.analyses.frequencyNoise(model, ds, { channels: 'all' }), {
    instanceOf: RangeError,
    message: /channels must be 'independent' or 'shared'/,
  });
  await t.throwsAsync(lk.analyses.frequencyNoise(model, ds, { clip: 1 }), {
    instanceOf: TypeError,
    message: /clip must be true or false/,
  });
  // On 32x32 the first ring off the centre is at 1/16 pi: a band [0, 0.05) without the zero frequency is empty.
  await t.throwsAsync(lk.analyses.frequencyNoise(model, ds, { bands: [0], bandWidth: 0.05, zeroFrequency: false }), {
    instanceOf: RangeError,
    message: /band \[0, 0.05\) pi holds no frequency of a 32x32 image without the zero frequency/,
  });
});

test('brightness shift: +-std on every pixel, one sign per image (grey) or per channel (rgb), clamped on request', (t) => {
  const x = greyBatch(8, 4, 5);
  const grey = brightnessShift(x, 0.15, false, 'grey', 1, 0);
  const signs = new Set();
  for (let n = 0; n < 8; n++) {
    const d = channel(grey, n, 0).map((v, i) => v - channel(x, n, 0)[i]);
    t.true(
      d.every((v) => Math.abs(Math.abs(v) - 0.15) < 1e-6 && Math.sign(v) === Math.sign(d[0])),
      `sample ${n}`,
    );
    signs.add(Math.sign(d[0]));
    t.deepEqual(channel(grey, n, 1), channel(grey, n, 0));
  }
  t.is(signs.size, 2, 'both signs drawn');
  const clamped = brightnessShift(x, 0.15, true, 'grey', 1, 0);
  t.true(clamped.data.every((v) => v >= 0 && v <= 1));
  t.true(
    grey.data.some((v) => v < 0),
    'unclamped goes below 0',
  );
  const rgb = brightnessShift(x, 0.15, false, 'rgb', 1, 0);
  let differ = 0;
  for (let n = 0; n < 8; n++)
    if (channel(rgb, n, 1)[0] - x.data[(n * 3 + 1) * 16] !== channel(rgb, n, 0)[0] - x.data[n * 3 * 16]) differ++;
  t.true(differ > 0, 'rgb draws per channel');
});

test('CSV numbers carry no float noise; band and kernel labels read like the README', (t) => {
  t.is(csvNumber(0.1 + 0.2), '0.3');
  t.is(csvNumber(0.30000000000000004), '0.3');
  t.is(csvNumber(1 / 3), '0.333333');
  t.is(csvNumber(12), '12');
  t.is(csvNumber(NaN), '');
  t.is(
    csvText(
      ['a', 'b'],
      [
        [0.1 * 3, 'x,y'],
        [null, 2],
      ],
    ),
    'a,b\n0.3,"x,y"\n,2\n',
  );
  t.is(bandLabel(0, 0.1), '0–0.1π');
  t.is(bandLabel(0.30000000000000004, 0.4), '0.3–0.4π');
  t.is(kernelLayerLabel('stages.0.blocks.0.large_kernel.lkb_reparam.weight', [13, 13]), '13x13 kernels, stage 1');
});

test('line chart: legend below the plot, error bars beside each other, markers, a legend note', (t) => {
  const series = [
    {
      name: 'A',
      points: [
        [0, 50],
        [1, 60],
      ],
      errorBars: [
        [0, 40, 55],
        [1, 58, 70],
      ],
    },
    {
      name: 'B',
      points: [
        [0, 52],
        [1, 61],
      ],
      errorBars: [
        [0, 45, 60],
        [1, 50, 65],
      ],
    },
  ];
  const svg = lineChart(series, { title: 'T', legendNote: 'bars: min–max' });
  const count = (re) => (svg.match(re) || []).length;
  t.is(count(/class="error-bar"/g), 4);
  t.is(count(/class="marker"/g), 4);
  t.is(count(/class="legend-note"/g), 1);
  // The plot's bottom edge (the x axis) lies above every legend entry.
  const axis = /<g class="axes"[^>]*>\n<path d="M[\d.]+,[\d.]+V([\d.]+)H/.exec(svg);
  const bottom = Number(axis[1]);
  const legendY = [...svg.matchAll(/<text x="[\d.]+" y="([\d.]+)" class="legend-entry"/g)].map((m) => Number(m[1]));
  t.is(legendY.length, 2);
  t.true(
    legendY.every((y) => y > bottom + 30),
    `legend at ${legendY}, plot bottom ${bottom}`,
  );
  // Bars of A and B at the same x sit apart.
  const barX = [...svg.matchAll(/class="error-bar" d="M([\d.]+),/g)].map((m) => Number(m[1]));
  t.true(Math.abs(barX[0] - barX[2]) >= 5, `bars at ${barX}`);
  const inside = lineChart(series, { legend: 'inside' });
  t.true([...inside.matchAll(/y="([\d.]+)" class="legend-entry"/g)].every((m) => Number(m[1]) < 100));
  t.throws(() => lineChart(series, { legend: 'left' }), { instanceOf: RangeError, message: /legend must be/ });
});

test('the written conclusion states only the comparisons the test shows, and says when nothing can be tested', (t) => {
  const { conclusion } = require('../lib/demo/summary');
  const s = { trainSamples: 5000, epochs: 4 };
  const labels = { a: 'Model A', b: 'Model B' };
  const row = (measure, label, a, b) => ({ measure, label, a: 'a', b: 'b', ...pairedComparison(a, b) });
  const comparisons = [
    row(
      'clean',
      'clean',
      [0.99, 0.98, 0.985, 0.99].map((v) => 100 * v),
      [0.97, 0.96, 0.97, 0.975].map((v) => 100 * v),
    ),
    row('pgd', 'PGD', [10, 40, 5, 30], [20, 10, 30, 15]),
  ];
  t.true(comparisons[0].shown && !comparisons[1].shown);
  // Differences 2, 2, 1.5, 1.5 points: mean 1.75.
  const text = conclusion(comparisons, labels, [0, 1, 2, 3], s);
  t.regex(
    text[1],
    /^Model A against Model B: the seeds support a difference in clean \(higher by 1\.8 points on average, 95% interval \+[\d.]+ to \+[\d.]+, p = 0\.00\d\)\. No difference shown in PGD\.$/,
  );
  t.notRegex(text.join(' '), /PGD \(/, 'PGD is never stated as a difference');
  t.regex(text[text.length - 1], /These are 2 tests without correction/);
  const none = conclusion([row('pgd', 'PGD', [10, 40, 5, 30], [20, 10, 30, 15])], labels, [0, 1, 2, 3], s);
  t.is(none[1], 'Model A against Model B: the seeds support no difference in any measure.');
  const single = conclusion([row('clean', 'clean', [99], [97])], labels, [7], s);
  t.regex(single[0], /With fewer than 3 seeds the test can hardly show anything/);
  t.regex(single[single.length - 1], /^One seed allows no test at all/);
  t.regex(single[single.length - 1], /says nothing about the study's ImageNet-scale claims/);
});
