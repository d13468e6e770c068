// The linear model, data and float64 reference training that test/train.test.js checks fit
// against, shared with the same check on the CUDA backend (test/device.test.js).
'use strict';
const { lk, rng } = require('./helpers');

class Linear48 extends lk.ImageClassifier {
  constructor() {
    super(3, [0, 0, 0], [1, 1, 1]);
    this.fc = this.child('fc', new lk.nn.Linear(48, 3));
  }
  blockNames() {
    return [];
  }
  forwardNormalized(x) {
    return this.fc.forward(lk.ops.reshape(x, [x.shape[0], 48]));
  }
}

function linearData(n, seed) {
  const r = rng(seed);
  const x = r.array([n, 3, 4, 4], 0, 1);
  const y = Int32Array.from({ length: n }, (_, i) => i % 3);
  return { x, y, ds: lk.tensorDataset(lk.tensor(Float32Array.from(x.data), x.shape), y) };
}

// Full-batch SGD with Nesterov momentum, decay on the weight only, label smoothing, clipping and the
// warm-up + cosine schedule, written out in float64 from the definitions.
function referenceLinearFit(W0, b0, x, y, { epochs, lr, minLr, momentum, wd, smoothing, clip }) {
  const N = y.length,
    D = 48,
    K = 3;
  const W = Float64Array.from(W0),
    b = Float64Array.from(b0);
  const bufW = new Float64Array(W.length),
    bufB = new Float64Array(K);
  for (let step = 0; step < epochs; step++) {
    const rate = step < 1 ? lr : minLr + ((lr - minLr) * (1 + Math.cos((Math.PI * (step - 1)) / (epochs - 1)))) / 2;
    const gW = new Float64Array(W.length),
      gB = new Float64Array(K);
    for (let n = 0; n < N; n++) {
      const z = Array.from(
        { length: K },
        (_, k) =>
          b[k] + Array.from({ length: D }, (_, d) => W[k * D + d] * x.data[n * D + d]).reduce((a, c) => a + c, 0),
      );
      const m = Math.max(...z),
        e = z.map((v) => Math.exp(v - m)),
        s = e.reduce((a, c) => a + c, 0);
      for (let k = 0; k < K; k++) {
        const d = (e[k] / s - ((k === y[n] ? 1 - smoothing : 0) + smoothing / K)) / N;
        gB[k] += d;
        for (let j = 0; j < D; j++) gW[k * D + j] += d * x.data[n * D + j];
      }
    }
    const norm = Math.sqrt([...gW, ...gB].reduce((a, v) => a + v * v, 0));
    const coef = Math.min(1, clip / (norm + 1e-6));
    const update = (w, g, buf, decay) => {
      for (let i = 0; i < w.length; i++) {
        const d = g[i] * coef + decay * w[i];
        buf[i] = step === 0 ? d : momentum * buf[i] + d;
        w[i] -= rate * (d + momentum * buf[i]);
      }
    };
    update(W, gW, bufW, wd);
    update(b, gB, bufB, 0);
  }
  return { W, b };
}

module.exports = { Linear48, linearData, referenceLinearFit };
