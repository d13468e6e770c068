// Shared test utilities: a seeded generator, float64 <-> tensor conversion, error measures.
'use strict';
const path = require('path');
const lk = require('..');

const MODEL_FIXTURES = path.join(__dirname, 'fixtures', 'models');

// Mulberry32: small, seeded, reproducible.
function rng(seed = 1) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    uniform: (lo = -1, hi = 1) => lo + (hi - lo) * next(),
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    /** {data: Float64Array of float32-representable values, shape} */
    array(shape, lo = -1, hi = 1) {
      const n = shape.reduce((p, q) => p * q, 1);
      const d = new Float64Array(n);
      for (let i = 0; i < n; i++) d[i] = Math.fround(lo + (hi - lo) * next());
      return { data: d, shape: shape.slice() };
    },
  };
}

/** A float64 array {data, shape} as a Tensor (float32). */
function toTensor(a, requiresGrad = false) {
  return lk.tensor(Float32Array.from(a.data), a.shape, { requiresGrad });
}

/** max|got - want| / max|want| (norm-wise relative error); 0 when both are all zero. */
function relErr(got, want) {
  if (got.length !== want.length) return Infinity;
  let num = 0,
    den = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= num)) num = d; // NaN propagates as a failure
    den = Math.max(den, Math.abs(want[i]));
  }
  if (Number.isNaN(num)) return Infinity;
  return den === 0 ? num : num / den;
}

function assertClose(t, got, want, tol, what) {
  const e = relErr(got, want);
  t.true(e <= tol, `${what}: relative error ${e.toExponential(2)} > ${tol}`);
}

// Fuzzing a file reader: `trials` copies of `good`, each with 1 to 4 random bytes in [start,
// start + span) overwritten (then `fixUp(bytes)`, e.g. a CRC), go through `parse`, which must
// return or throw `ErrorClass`, nothing else. Returns how many were rejected, or the first
// unexpected error as { error, trial }.
function fuzzCorruptions({ good, start = 0, span, trials, seed, parse, ErrorClass, fixUp = () => {} }) {
  const random = (n) => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n;
  let rejected = 0;
  for (let trial = 0; trial < trials; trial++) {
    const bytes = Buffer.from(good);
    for (let k = 0; k <= random(3); k++) bytes[start + random(span)] = random(256);
    fixUp(bytes);
    try {
      parse(bytes);
    } catch (e) {
      if (!(e instanceof ErrorClass)) return { error: e, trial };
      rejected++;
    }
  }
  return { rejected };
}

/** A model-parity fixture of test/fixtures/models (make_model_fixtures.py): the model name, its
 * options (with mean and std), the tensors by name, and a fresh copy of the input x. */
function modelFixture(name) {
  const io = lk.readSafetensors(path.join(MODEL_FIXTURES, `${name}.io.safetensors`));
  const meta = io.metadata;
  const options = { ...JSON.parse(meta.config), mean: JSON.parse(meta.mean), std: JSON.parse(meta.std) };
  const get = (k) => io.tensors.get(k);
  return { model: meta.model, options, get, x: () => lk.tensor(get('x').data.slice(), get('x').shape) };
}

/** The fixture's model loaded from its weights file (or `file` beside it) through lk.loadModel. */
function loadModelFixture(name, file = `${name}.safetensors`, extra = {}) {
  const f = modelFixture(name);
  const { model, report } = lk.loadModel(f.model, path.join(MODEL_FIXTURES, file), { ...f.options, ...extra });
  return { f, model, report };
}

// logits = W . flatten(x) + b: a Classifier given as a function, with random W, b and inputs in
// [lo, hi] drawn in that order from rng(seed); y are the clean predictions.
function linearModel({ N = 4, side = 6, K = 5, seed = 3, scale = 1, lo = 0.1, hi = 0.9 } = {}) {
  const r = rng(seed);
  const D = 3 * side * side;
  const W = Float32Array.from({ length: K * D }, () => r.uniform(-scale, scale));
  const b = Float32Array.from({ length: K }, () => r.uniform(-0.1, 0.1));
  const Wt = lk.tensor(W, [K, D]),
    bt = lk.tensor(b, [K]);
  const model = (x) => lk.ops.linear(lk.ops.reshape(x, [x.shape[0], D]), Wt, bt);
  const x = lk.tensor(
    Float32Array.from({ length: N * D }, () => r.uniform(lo, hi)),
    [N, 3, side, side],
  );
  const y = Array.from(lk.argmax(lk.noGrad(() => model(x))));
  return { model, x, y, W, b, K, D, N, side };
}

module.exports = {
  linearModel,
  lk,
  rng,
  toTensor,
  relErr,
  assertClose,
  fuzzCorruptions,
  modelFixture,
  loadModelFixture,
  MODEL_FIXTURES,
};
