// Bad inputs to ops.attention (TypeError / RangeError with a message naming the argument), the raw
// addon called with wrong arrays (it must throw, not read or write out of bounds), and results
// that must not depend on the thread count.
'use strict';
const path = require('path');
const test = require('ava');
const { lk, rng, toTensor, relErr } = require('./helpers');

const addon = require('node-gyp-build')(path.join(__dirname, '..'));

function inputs(B, H, Tq, Tk, d, dv, requiresGrad = false) {
  const r = rng(7);
  return {
    q: toTensor(r.array([B, H, Tq, d]), requiresGrad),
    k: toTensor(r.array([B, H, Tk, d]), requiresGrad),
    v: toTensor(r.array([B, H, Tk, dv]), requiresGrad),
  };
}

test('attention: rejects non-tensors', (t) => {
  const { q, k, v } = inputs(1, 2, 3, 4, 5, 6);
  t.throws(() => lk.ops.attention(q.data, k, v), {
    instanceOf: TypeError,
    message: /^attention: q must be a Tensor, got Float32Array/,
  });
  t.throws(() => lk.ops.attention(q, null, v), {
    instanceOf: TypeError,
    message: /^attention: k must be a Tensor, got null/,
  });
  t.throws(() => lk.ops.attention(q, k, 3), {
    instanceOf: TypeError,
    message: /^attention: v must be a Tensor, got 3/,
  });
});

test('attention: rejects wrong ranks and mismatched shapes', (t) => {
  const { q, k, v } = inputs(2, 3, 5, 7, 4, 6);
  const flat = lk.tensor(new Float32Array(15 * 4), [15, 4]);
  t.throws(() => lk.ops.attention(flat, k, v), {
    instanceOf: RangeError,
    message: /^attention: q must be 4-D \[B, H, Tq, d\], got shape \[15, 4\]/,
  });
  t.throws(() => lk.ops.attention(q, flat, v), {
    instanceOf: RangeError,
    message: /^attention: k must be 4-D \[B, H, Tk, d\]/,
  });
  t.throws(() => lk.ops.attention(q, k, flat), {
    instanceOf: RangeError,
    message: /^attention: v must be 4-D \[B, H, Tk, dv\]/,
  });
  const kBadD = lk.zeros([2, 3, 7, 5]);
  t.throws(() => lk.ops.attention(q, kBadD, v), {
    instanceOf: RangeError,
    message: 'attention: k must have shape [B, H, Tk, d] = [2, 3, Tk, 4] (B, H and d of q), got [2, 3, 7, 5]',
  });
  t.throws(() => lk.ops.attention(q, lk.zeros([2, 2, 7, 4]), v), {
    instanceOf: RangeError,
    message: /k must have shape .* got \[2, 2, 7, 4\]/,
  });
  t.throws(() => lk.ops.attention(q, k, lk.zeros([2, 3, 6, 6])), {
    instanceOf: RangeError,
    message: 'attention: v must have shape [B, H, Tk, dv] = [2, 3, 7, dv] (B, H of q and Tk of k), got [2, 3, 6, 6]',
  });
  t.throws(() => lk.ops.attention(q, k, lk.zeros([1, 3, 7, 6])), {
    instanceOf: RangeError,
    message: /v must have shape/,
  });
});

test('attention: rejects empty key sets and zero head dims', (t) => {
  const q = lk.zeros([1, 1, 2, 4]);
  t.throws(() => lk.ops.attention(q, lk.zeros([1, 1, 0, 4]), lk.zeros([1, 1, 0, 3])), {
    instanceOf: RangeError,
    message: /^attention: k and v must hold at least one key \(Tk >= 1\)/,
  });
  t.throws(() => lk.ops.attention(lk.zeros([1, 1, 2, 0]), lk.zeros([1, 1, 3, 0]), lk.zeros([1, 1, 3, 2])), {
    instanceOf: RangeError,
    message: /^attention: q must have a head dimension d >= 1/,
  });
  t.throws(() => lk.ops.attention(q, lk.zeros([1, 1, 3, 4]), lk.zeros([1, 1, 3, 0])), {
    instanceOf: RangeError,
    message: /^attention: v must have a value dimension dv >= 1/,
  });
});

test('attention: rejects bad options', (t) => {
  const { q, k, v } = inputs(1, 1, 2, 3, 4, 4);
  t.throws(() => lk.ops.attention(q, k, v, { scal: 1 }), {
    instanceOf: TypeError,
    message: /^attention: unknown option 'scal' \(expected one of: scale, returnProbs\)/,
  });
  t.throws(() => lk.ops.attention(q, k, v, 0.5), {
    instanceOf: TypeError,
    message: /^attention: options must be an object, got 0.5/,
  });
  t.throws(() => lk.ops.attention(q, k, v, { scale: '1' }), {
    instanceOf: TypeError,
    message: /^attention: scale must be a number, got '1'/,
  });
  t.throws(() => lk.ops.attention(q, k, v, { scale: NaN }), {
    instanceOf: RangeError,
    message: /^attention: scale must be a finite float32 value, got NaN/,
  });
  t.throws(() => lk.ops.attention(q, k, v, { scale: Infinity }), {
    instanceOf: RangeError,
    message: /scale must be a finite/,
  });
  t.throws(() => lk.ops.attention(q, k, v, { scale: 1e39 }), {
    instanceOf: RangeError,
    message: /scale must be a finite float32/,
  });
  t.throws(() => lk.ops.attention(q, k, v, { returnProbs: 1 }), {
    instanceOf: TypeError,
    message: /^attention: returnProbs must be a boolean, got 1/,
  });
});

test('attention: returnProbs gives {out, probs}; rows of probs sum to 1; out matches the plain call', (t) => {
  const { q, k, v } = inputs(2, 2, 9, 70, 8, 5);
  const plain = lk.ops.attention(q, k, v);
  const { out, probs } = lk.ops.attention(q, k, v, { returnProbs: true });
  t.deepEqual([...probs.shape], [2, 2, 9, 70]);
  t.false(probs.requiresGrad);
  t.deepEqual(out.data, plain.data);
  for (let r = 0; r < 2 * 2 * 9; r++) {
    let s = 0;
    for (let j = 0; j < 70; j++) s += probs.data[r * 70 + j];
    t.true(Math.abs(s - 1) < 1e-5, `row ${r} sums to ${s}`);
  }
  const withFalse = lk.ops.attention(q, k, v, { returnProbs: false });
  t.true(withFalse instanceof lk.Tensor);
});

test('attention: empty batch and zero queries give empty outputs and zero key/value grads', (t) => {
  t.deepEqual(
    [...lk.ops.attention(lk.zeros([0, 2, 3, 4]), lk.zeros([0, 2, 5, 4]), lk.zeros([0, 2, 5, 3])).shape],
    [0, 2, 3, 3],
  );
  const { q, k, v } = inputs(1, 2, 0, 5, 4, 3, true);
  const out = lk.ops.attention(q, k, v);
  t.deepEqual([...out.shape], [1, 2, 0, 3]);
  lk.ops.sum(out).backward();
  t.true(k.grad.data.every((x) => x === 0));
  t.true(v.grad.data.every((x) => x === 0));
});

test('attention: raw addon refuses arrays that do not match the dims', (t) => {
  const B = 1,
    H = 2,
    Tq = 3,
    Tk = 4,
    d = 5,
    dv = 6;
  const f = (n) => new Float32Array(n);
  const good = () => [f(B * H * Tq * d), f(B * H * Tk * d), f(B * H * Tk * dv), f(B * H * Tq * dv), f(B * H * Tq)];
  const dims = [B, H, Tq, Tk, d, dv, 0.5];
  t.notThrows(() => addon.attentionForward(...dims, ...good(), null));
  for (let i = 0; i < 5; i++) {
    const args = good();
    args[i] = f(args[i].length - 1);
    t.throws(() => addon.attentionForward(...dims, ...args, null), {
      instanceOf: RangeError,
      message: /lkvit native: attentionForward: \w+ must hold \d+ floats/,
    });
  }
  t.throws(() => addon.attentionForward(...dims, ...good(), f(B * H * Tq * Tk - 1)), {
    instanceOf: RangeError,
    message: /probs must hold/,
  });
  t.throws(() => addon.attentionForward(...dims, ...good().slice(0, 4), [0, 0, 0, 0, 0, 0], null), {
    instanceOf: TypeError,
    message: /lse must be a Float32Array/,
  });
  t.throws(() => addon.attentionForward(B, H, Tq, 0, d, dv, 0.5, ...good(), null), {
    instanceOf: RangeError,
    message: /Tk must be an integer in \[1,/,
  });
  t.throws(() => addon.attentionForward(B, H, -1, Tk, d, dv, 0.5, ...good(), null), {
    instanceOf: RangeError,
    message: /Tq must be an integer/,
  });
  t.throws(() => addon.attentionForward(B, H, Tq, Tk, d, dv, NaN, ...good(), null), {
    instanceOf: RangeError,
    message: /scale must be a finite/,
  });
  t.throws(() => addon.attentionForward(...dims), { instanceOf: TypeError, message: /q must be a Float32Array/ });

  const grads = () => [f(B * H * Tq * dv), f(B * H * Tq * d), f(B * H * Tk * d), f(B * H * Tk * dv)];
  t.notThrows(() => addon.attentionBackward(...dims, ...good(), ...grads()));
  t.notThrows(() => addon.attentionBackward(...dims, ...good(), grads()[0], null, null, null));
  for (let i = 0; i < 4; i++) {
    const g = grads();
    g[i] = f(g[i].length + 1);
    t.throws(() => addon.attentionBackward(...dims, ...good(), ...g), {
      instanceOf: RangeError,
      message: /must hold \d+ floats/,
    });
  }
  t.throws(() => addon.attentionBackward(...dims, ...good().slice(0, 4), f(1), ...grads()), {
    instanceOf: RangeError,
    message: /lse must hold 6 floats, got 1/,
  });
});

test('attention: results do not depend on the thread count (1, 2, 3, 5 threads)', (t) => {
  const prev = lk.getNumThreads();
  // B*H = 3 heads, Tq = 197 (4 query blocks): the backward's split of query blocks over threads
  // (partial dK/dV sums) changes with the thread count.
  const run = (threads) => {
    lk.setNumThreads(threads);
    const { q, k, v } = inputs(1, 3, 197, 150, 32, 24, true);
    const out = lk.ops.attention(q, k, v);
    lk.ops.sum(lk.ops.mul(out, out)).backward();
    return [out.data, q.grad.data, k.grad.data, v.grad.data];
  };
  try {
    const ref = run(1);
    for (const n of [2, 3, 5]) {
      const got = run(n);
      ['out', 'grad q', 'grad k', 'grad v'].forEach((what, i) => {
        const e = relErr(got[i], ref[i]);
        t.true(e < 1e-6, `${what} with ${n} threads: relative difference ${e}`);
      });
    }
  } finally {
    lk.setNumThreads(prev);
  }
});
