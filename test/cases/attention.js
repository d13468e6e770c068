'use strict';
const R = require('../reference/attention');

// Query and key blocks are 64 long in the kernel: the sizes below leave ragged edges (1, 5, 17,
// 70, 130, 197, 260), and dims that are not multiples of the 8/16-float vectors (masked tails).
function attentionRow({ name, B = 1, H = 1, Tq, Tk, d, dv = d, scale, grad = ['q', 'k', 'v'], fd = false, make }) {
  const s = scale ?? 1 / Math.sqrt(d);
  const opts = scale === undefined ? undefined : { scale };
  return {
    name,
    make: make || ((r) => ({ q: r.array([B, H, Tq, d]), k: r.array([B, H, Tk, d]), v: r.array([B, H, Tk, dv]) })),
    run: (lk, t) => lk.ops.attention(t.q, t.k, t.v, opts),
    ref: (a) => R.forward(a.q, a.k, a.v, s),
    refGrad: (a, g) => R.backward(a.q, a.k, a.v, s, g),
    grad,
    isa: true,
    fd,
  };
}

// returnProbs: out and probs concatenated along the last dim, so one row checks both (and the
// gradients, which flow through out only: probs carries no grad).
function probsRow({ name, B = 1, H = 1, Tq, Tk, d, dv = d }) {
  const s = 1 / Math.sqrt(d);
  return {
    name,
    make: (r) => ({ q: r.array([B, H, Tq, d]), k: r.array([B, H, Tk, d]), v: r.array([B, H, Tk, dv]) }),
    run: (lk, t) => {
      const { out, probs } = lk.ops.attention(t.q, t.k, t.v, { returnProbs: true });
      if (probs.requiresGrad) throw new Error('probs must not require grad');
      return lk.ops.cat([out, probs], 3);
    },
    ref: (a) => R.concatLast(R.forward(a.q, a.k, a.v, s), R.probs(a.q, a.k, a.v, s)),
    refGrad: (a, g) => R.backward(a.q, a.k, a.v, s, R.firstColumns(g, B * H * Tq, dv, Tk)),
    grad: ['q', 'k', 'v'],
    isa: true,
  };
}

// Logits around +-(200..300) (a per-row offset the softmax must cancel: exp() of them overflows
// float32), with ordinary spread between keys so the gradients are not vanishing.
function largeLogits(B, H, Tq, Tk, d, dv) {
  return (r) => {
    const q = r.array([B, H, Tq, d]);
    const k = r.array([B, H, Tk, d]);
    const v = r.array([B, H, Tk, dv]);
    for (let i = 0; i < B * H * Tq; i++) q.data[i * d + d - 1] = Math.fround((i % 2 ? -1 : 1) * r.uniform(20, 30));
    for (let j = 0; j < B * H * Tk; j++) k.data[j * d + d - 1] = 40;
    return { q, k, v };
  };
}

module.exports = [
  attentionRow({ name: 'tiny Tq=3 Tk=4 d=2 dv=3', Tq: 3, Tk: 4, d: 2, dv: 3, fd: true }),
  attentionRow({
    name: 'tiny B=2 H=2 Tq=2 Tk=3 scale=0.8',
    B: 2,
    H: 2,
    Tq: 2,
    Tk: 3,
    d: 3,
    dv: 2,
    scale: 0.8,
    fd: true,
  }),
  attentionRow({ name: 'single query and key Tq=Tk=1', Tq: 1, Tk: 1, d: 1, dv: 1, fd: true }),
  attentionRow({ name: 'Tq=5 Tk=17 d=8', Tq: 5, Tk: 17, d: 8 }),
  attentionRow({ name: 'B=2 H=3 Tq=Tk=70 d=16 dv=24', B: 2, H: 3, Tq: 70, Tk: 70, d: 16, dv: 24 }),
  attentionRow({ name: 'Tq=17 Tk=130 d=5 dv=33 scale=0.7', B: 1, H: 2, Tq: 17, Tk: 130, d: 5, dv: 33, scale: 0.7 }),
  attentionRow({ name: 'Tq=130 Tk=5 d=33 dv=3', B: 2, H: 1, Tq: 130, Tk: 5, d: 33, dv: 3 }),
  attentionRow({ name: 'ViT B=1 H=3 T=197 d=64', B: 1, H: 3, Tq: 197, Tk: 197, d: 64 }),
  attentionRow({ name: 'one head T=260 d=32 (query blocks split across threads)', Tq: 260, Tk: 260, d: 32, dv: 16 }),
  attentionRow({
    name: 'large logits (~250) B=2 H=2 Tq=20 Tk=75 d=16',
    B: 2,
    H: 2,
    Tq: 20,
    Tk: 75,
    d: 16,
    dv: 8,
    make: largeLogits(2, 2, 20, 75, 16, 8),
  }),
  attentionRow({ name: 'large logits tiny', Tq: 2, Tk: 3, d: 2, dv: 2, make: largeLogits(1, 1, 2, 3, 2, 2), fd: true }),
  attentionRow({ name: 'negative scale Tq=9 Tk=66 d=7', B: 1, H: 2, Tq: 9, Tk: 66, d: 7, dv: 9, scale: -0.45 }),
  // Only some inputs want a gradient: the kernel skips the others (and their products).
  attentionRow({ name: 'grad q only H=3 Tq=Tk=70', H: 3, Tq: 70, Tk: 70, d: 16, dv: 8, grad: ['q'] }),
  attentionRow({ name: 'grad k only H=3 Tq=70 Tk=40', H: 3, Tq: 70, Tk: 40, d: 16, dv: 8, grad: ['k'] }),
  attentionRow({ name: 'grad v only H=3 Tq=70 Tk=40', H: 3, Tq: 70, Tk: 40, d: 16, dv: 8, grad: ['v'] }),
  probsRow({ name: 'returnProbs B=2 H=2 Tq=70 Tk=33 d=8 dv=4', B: 2, H: 2, Tq: 70, Tk: 33, d: 8, dv: 4 }),
  probsRow({ name: 'returnProbs class token Tq=1 Tk=197 d=16', B: 1, H: 3, Tq: 1, Tk: 197, d: 16 }),
];
