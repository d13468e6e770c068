// The attack step in every space (src/attacks/project.ts): pgdUpdate and project are ops.pgdStep in
// pixel space and in normalised space (the per-channel box [0, 1 / std_c]), checked against a float64
// reference written here: step along sign(g) or g / ||g||, eps-ball around z0, then the box.
'use strict';
const test = require('ava');
const { rng } = require('./helpers');
const { pgdUpdate, project } = require('../lib/attacks/project');
const { AttackSpace } = require('../lib/attacks/space');

// Float64 reference for sample-major z [N, C, H, W]; alpha one number or one per sample.
function reference(z, g, z0, eps, alpha, norm, upper, shape) {
  const [N, C] = shape,
    D = z.length / N,
    plane = D / C;
  const out = new Float64Array(z.length);
  for (let n = 0; n < N; n++) {
    const a = typeof alpha === 'number' ? alpha : alpha[n],
      o = n * D;
    let gn = 0;
    for (let i = o; i < o + D; i++) gn += g[i] * g[i];
    gn = Math.sqrt(gn);
    for (let i = o; i < o + D; i++)
      out[i] = z[i] + (norm === 'linf' ? a * Math.sign(g[i]) : gn > 0 ? (a * g[i]) / gn : 0);
    if (norm === 'linf') {
      for (let i = o; i < o + D; i++) out[i] = Math.min(z0[i] + eps, Math.max(z0[i] - eps, out[i]));
    } else {
      let r = 0;
      for (let i = o; i < o + D; i++) r += (out[i] - z0[i]) ** 2;
      r = Math.sqrt(r);
      if (r > eps) for (let i = o; i < o + D; i++) out[i] = z0[i] + ((out[i] - z0[i]) * eps) / r;
    }
    for (let i = o; i < o + D; i++) {
      const hi = upper[Math.floor((i - o) / plane)];
      out[i] = Math.min(hi, Math.max(0, out[i]));
    }
  }
  return out;
}

function draw(seed, shape, upper) {
  const r = rng(seed);
  const [N, C] = shape,
    D = shape.slice(1).reduce((a, b) => a * b, 1),
    plane = D / C;
  const z0 = Float32Array.from({ length: N * D }, (_, i) => r.uniform(0, upper[Math.floor((i % D) / plane)]));
  const z = Float32Array.from(z0, (v) => v + r.uniform(-0.3, 0.3));
  const g = Float32Array.from({ length: N * D }, (_, i) => (i % 5 === 0 ? 0 : r.uniform(-2, 2)));
  g.fill(0, D, 2 * D); // sample 1: a zero gradient (no step, the projection alone)
  return { z, z0, g };
}

function within(t, got, want, what) {
  let worst = 0;
  for (let i = 0; i < want.length; i++)
    worst = Math.max(worst, Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i])));
  t.true(worst <= 4e-7, `${what}: worst relative error ${worst}`);
}

const SHAPE = [3, 3, 4, 5];
const STD = [0.229, 0.224, 0.225];
const SPACES = [
  ['pixel', new AttackSpace('pixel'), [1, 1, 1]],
  ['normalized', new AttackSpace('normalized', STD), STD.map((s) => 1 / s)],
];

for (const [name, space, upper] of SPACES) {
  for (const norm of ['linf', 'l2']) {
    test(`pgdUpdate ${name} ${norm}: the float64 step, ball and per-channel box`, (t) => {
      const { z, z0, g } = draw(3, SHAPE, upper);
      const eps = norm === 'linf' ? 0.1 : 0.8,
        alpha = norm === 'linf' ? 0.04 : 0.5;
      const zc = z.slice(),
        gc = g.slice(),
        z0c = z0.slice();
      const out = pgdUpdate(z, g, z0, eps, alpha, norm, space, SHAPE);
      within(t, out, reference(z, g, z0, eps, alpha, norm, upper, SHAPE), 'one alpha');
      t.deepEqual([z, g, z0], [zc, gc, z0c], 'the inputs are left alone');
      // The box binds: values sit on 0 and on 1 / std_c of their channel, none beyond.
      const plane = SHAPE[2] * SHAPE[3],
        channel = (i) => Math.floor(i / plane) % SHAPE[1];
      t.true(
        out.every((v, i) => v >= 0 && v <= Math.fround(upper[channel(i)])),
        'inside the box',
      );
      t.true(out.some((v) => v === 0) && out.some((v, i) => v === Math.fround(upper[channel(i)])), 'on both faces');
      const perSample = Float64Array.from([0.01, 0.3, 0.12]);
      within(
        t,
        pgdUpdate(z, g, z0, eps, perSample, norm, space, SHAPE),
        reference(z, g, z0, eps, perSample, norm, upper, SHAPE),
        'alpha per sample',
      );
    });

    test(`project ${name} ${norm}: the eps-ball then the box, nothing else`, (t) => {
      const { z, z0 } = draw(4, SHAPE, upper);
      const eps = norm === 'linf' ? 0.05 : 0.3;
      const zero = new Float32Array(z.length);
      within(
        t,
        project(z, z0, eps, norm, space, SHAPE),
        reference(z, zero, z0, eps, 0, norm, upper, SHAPE),
        'projection',
      );
      // A point already inside the ball and the box comes back bit for bit.
      t.deepEqual(project(z0, z0, eps, norm, space, SHAPE), z0);
    });
  }
}
