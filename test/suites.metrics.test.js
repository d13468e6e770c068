// The suites' metrics against hand-computed values on tiny inputs and against float64 reimplementations
// of their reference definitions (pairwise AUROC, per-positive AP, hendrycks' full-ranking top-5
// distance); and the shipped class lists.
'use strict';
const test = require('ava');
const m = require('../lib/suites/metrics');
const classes = require('../lib/suites/classes');
const { rng } = require('./helpers');

const close = (t, got, want, what, tol = 1e-12) => t.true(Math.abs(got - want) <= tol, `${what}: ${got} vs ${want}`);

test('class lists: counts, order, uniqueness, subsets and well-known entries', (t) => {
  const all = classes.IMAGENET_WNIDS;
  t.is(all.length, 1000);
  t.is(new Set(all).size, 1000);
  t.deepEqual([...all], [...all].sort());
  t.true(all.every((w) => /^n\d{8}$/.test(w)));
  t.is(all[0], 'n01440764'); // tench
  t.is(all[207], 'n02099601'); // golden retriever
  t.is(all[999], 'n15075141'); // toilet tissue
  for (const [name, list] of [
    ['A', classes.IMAGENET_A_WNIDS],
    ['R', classes.IMAGENET_R_WNIDS],
    ['O', classes.IMAGENET_O_WNIDS],
  ]) {
    t.is(list.length, 200, name);
    t.is(new Set(list).size, 200, name);
    t.deepEqual([...list], [...list].sort(), name);
    t.true(
      list.every((w) => all.includes(w)),
      `${name} within ImageNet-1k`,
    );
  }
  // ImageNet-A's first classes as eval.py's thousand_k_to_200 numbers them: 6 (stingray), 11, 13.
  t.deepEqual(classes.subsetIndices(classes.IMAGENET_A_WNIDS).slice(0, 3), [6, 11, 13]);
  t.true(classes.IMAGENET_R_WNIDS.includes('n02099601'));
  t.is(classes.IN_TO_IN9.length, 1000);
  t.true(classes.IN_TO_IN9.every((v) => Number.isInteger(v) && v >= -1 && v <= 8));
  t.is(classes.IN_TO_IN9[0], 8); // tench -> fish
  t.is(classes.IN_TO_IN9[999], -1); // toilet tissue: none
  t.is(classes.IN_TO_IN9[151], 0); // Chihuahua -> dog (in_to_in9.json)
  t.is(classes.IN_TO_IN9[207], 0);
  for (let c = 0; c < 9; c++) t.true(classes.IN_TO_IN9.includes(c), `IN-9 class ${c} has members`);
  t.is(classes.IN9_CLASSES.length, 9);
  t.throws(() => classes.subsetIndices(['n00000000']), { instanceOf: RangeError });
});

test('topClasses: descending, ties to the lower index, over a column subset', (t) => {
  t.deepEqual(m.topClasses([0.1, 0.5, 0.5, 0.2, 0.9, 0.5], 3), [4, 1, 2]);
  t.deepEqual(m.topClasses([0.1, 0.5, 0.5, 0.2, 0.9, 0.5], 1), [4]);
  t.deepEqual(m.topClasses([3, 3, 3], 5), [0, 1, 2]);
  // Columns [5, 0, 3]: values 0.5, 0.1, 0.2 -> positions 0, 2, 1.
  t.deepEqual(m.topClasses([0.1, 0.5, 0.5, 0.2, 0.9, 0.5], 3, [5, 0, 3]), [0, 2, 1]);
  t.throws(() => m.topClasses([1], 0), { instanceOf: RangeError });
});

test('maxSoftmax over a subset', (t) => {
  close(t, m.maxSoftmax([0, Math.log(3)]), 0.75, 'two classes');
  close(t, m.maxSoftmax([100, 0, Math.log(3), 7], [1, 2]), 0.75, 'subset ignores the others');
});

test('AUROC, AUPR (average precision) and FPR at 95% recall: hand-computed cases', (t) => {
  // Positives 0.9, 0.7; negatives 0.8, 0.6: 3 of 4 pairs ordered; AP = 1/2 * 1 + 1/2 * 2/3.
  const s1 = [0.9, 0.8, 0.7, 0.6],
    p1 = [1, 0, 1, 0];
  close(t, m.auroc(s1, p1), 0.75, 'auroc');
  close(t, m.averagePrecision(s1, p1), 0.5 + 1 / 3, 'ap');
  close(t, m.fprAtRecall(s1, p1), 0.5, 'fpr95: full recall needs the 0.8 negative');
  // A tie between a positive and a negative counts one half (AUROC) and enters as one threshold (AP).
  const s2 = [0.5, 0.5, 0.2, 0.1],
    p2 = [true, false, true, false];
  close(t, m.auroc(s2, p2), 2.5 / 4, 'auroc with a tie');
  close(t, m.averagePrecision(s2, p2), 0.5 * 0.5 + 0.5 * (2 / 3), 'ap with a tie');
  // 20 positives scored 20..1, negatives at 1.5 and 0.5: recall 0.95 holds at score 2 (no false positive)
  // and at 1.5 (one); the reference walks down from full recall, so the first of them, 1.5, wins.
  const s3 = [...Array.from({ length: 20 }, (_, i) => 20 - i), 1.5, 0.5];
  const p3 = [...Array(20).fill(1), 0, 0];
  close(t, m.fprAtRecall(s3, p3), 0.5, 'fpr at exactly 0.95 recall');
  // 10 positives 10..1 and a negative tied with the last: recall 0.9 (no FP) and 1.0 (one FP) are both
  // 0.05 away, but in float64 0.9 is nearer (numpy computes the same), so the FPR is 0.
  const s4 = [...Array.from({ length: 10 }, (_, i) => 10 - i), 1, 0.5];
  const p4 = [...Array(10).fill(1), 0, 0];
  close(t, m.fprAtRecall(s4, p4), 0, 'fpr picks recall 0.9');
  close(t, m.fprAtRecall(s4, p4, 1), 0.5, 'fpr at full recall');
  t.throws(() => m.auroc([1, 2], [1, 1]), { instanceOf: RangeError });
  t.throws(() => m.averagePrecision([1, 2], [1]), { instanceOf: RangeError });
  t.throws(() => m.fprAtRecall([NaN, 2], [1, 0]), { instanceOf: RangeError });
});

test('AUROC and AP match pairwise / per-positive definitions on random scores with many ties', (t) => {
  const r = rng(7);
  for (let trial = 0; trial < 20; trial++) {
    const n = 5 + r.int(0, 40);
    const scores = Array.from({ length: n }, () => r.int(0, 6) / 3);
    const positive = Array.from({ length: n }, (_, i) => (i < 2 ? i === 0 : r.next() < 0.4));
    let pairs = 0,
      wins = 0;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++)
        if (positive[i] && !positive[j]) {
          pairs++;
          wins += scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0;
        }
    close(t, m.auroc(scores, positive), wins / pairs, `auroc trial ${trial}`, 1e-12);
    // AP = mean over positives of the precision among samples scoring at least as high.
    let ap = 0,
      P = 0;
    for (let i = 0; i < n; i++) {
      if (!positive[i]) continue;
      P++;
      let above = 0,
        tp = 0;
      for (let j = 0; j < n; j++)
        if (scores[j] >= scores[i]) {
          above++;
          if (positive[j]) tp++;
        }
      ap += tp / above;
    }
    close(t, m.averagePrecision(scores, positive), ap / P, `ap trial ${trial}`, 1e-12);
  }
});

test('corruption error and mean', (t) => {
  close(t, m.corruptionError([0.5, 0.6, 0.7, 0.8, 0.9], 0.886428), 3.5 / (5 * 0.886428), 'CE');
  close(t, m.mean([1, 2, 6]), 3, 'mean');
  t.is(Object.keys(m.ALEXNET_CORRUPTION_ERRORS).length, 15);
  t.is(m.ALEXNET_CORRUPTION_ERRORS.jpeg_compression, 0.6065);
  t.throws(() => m.corruptionError([0.5], 0.8), { instanceOf: RangeError });
  close(t, m.backgroundGap(0.8, 0.65), 0.15, 'bg gap', 1e-15);
});

test('ImageNet-P frame pairs and flip probability: hand-computed', (t) => {
  t.deepEqual(m.framePairs(4, { noise: true }), [
    [0, 1],
    [0, 2],
    [0, 3],
  ]);
  t.deepEqual(m.framePairs(4, { noise: false }), [
    [0, 1],
    [1, 2],
    [2, 3],
  ]);
  t.deepEqual(m.framePairs(5, { noise: false, difficulty: 2 }), [
    [0, 2],
    [2, 4],
    [1, 3],
  ]);
  const video = [1, 1, 2, 1];
  close(t, m.flipProbability([video], { noise: true }), 1 / 3, 'noise: against the first frame');
  close(t, m.flipProbability([video], { noise: false }), 2 / 3, 'consecutive frames');
  close(t, m.flipProbability([video], { noise: false, difficulty: 2 }), 1 / 2, 'stride 2');
  close(t, m.flipProbability([video, [3, 3, 3, 3]], { noise: false }), 1 / 3, 'mean over videos');
  t.throws(() => m.flipProbability([[1]], { noise: true }), { instanceOf: RangeError });
});

test('ImageNet-P top-5 distance: hand-computed frame distances', (t) => {
  t.is(m.top5FrameDistance([0, 1, 2, 3, 4], [0, 1, 2, 3, 4]), 0);
  t.is(m.top5FrameDistance([0, 1, 2, 3, 4], [1, 0, 2, 3, 4]), 2);
  // The top class leaves the top 5: 5 for it, 1 for each class that moved up.
  t.is(m.top5FrameDistance([0, 1, 2, 3, 4], [1, 2, 3, 4, 9]), 9);
  close(
    t,
    m.top5Distance(
      [
        [
          [0, 1, 2, 3, 4],
          [1, 0, 2, 3, 4],
          [1, 2, 3, 4, 9],
        ],
      ],
      { noise: true },
    ),
    5.5,
    'noise: vs first',
  );
  close(
    t,
    m.top5Distance(
      [
        [
          [0, 1, 2, 3, 4],
          [1, 0, 2, 3, 4],
          [1, 2, 3, 4, 9],
        ],
      ],
      { noise: false },
    ),
    (2 + 7) / 2,
    'consecutive',
  );
});

// hendrycks ImageNet-P/test.py, literally: full ordinal rankings, argsort, cumulative top-5 indicator.
function referenceRankingDist(videos, noise, difficulty) {
  const K = videos[0][0].length;
  const cum = [];
  for (let i = 0, s = 0; i < 1000; i++) {
    s += i >= 1 && i <= 5 ? 1 : 0;
    cum.push(s);
  }
  const ranks = (frame) => {
    const order = frame.map((v, i) => i).sort((a, b) => frame[b] - frame[a] || a - b);
    const r = new Array(K);
    order.forEach((c, k) => (r[c] = k + 1));
    return r;
  };
  const argsort = (a) => a.map((v, i) => i).sort((x, y) => a[x] - a[y] || x - y);
  const dist = (sigma) => {
    let d = 0;
    for (let k = 0; k < 5; k++) d += Math.abs(cum[k] - cum[sigma[k] - 1]);
    return d;
  };
  const step = noise ? 1 : difficulty;
  let result = 0;
  for (const vid of videos) {
    const vr = vid.map(ranks);
    const per = [];
    for (let i = 0; i < step; i++) {
      let perm1 = vr[i],
        inv = argsort(perm1);
      for (let j = i + step; j < vr.length; j += step) {
        const perm2 = vr[j];
        per.push(dist(inv.map((c) => perm2[c])));
        if (!noise) {
          perm1 = perm2;
          inv = argsort(perm1);
        }
      }
    }
    result += per.reduce((a, b) => a + b, 0) / per.length / videos.length;
  }
  return result;
}

test('top-5 distance from top-5 lists equals the full-ranking reference on random logits with ties', (t) => {
  const r = rng(3);
  for (const [noise, difficulty] of [
    [true, 1],
    [false, 1],
    [false, 2],
    [false, 3],
  ]) {
    const videos = Array.from({ length: 3 }, () =>
      Array.from({ length: 7 }, () => Array.from({ length: 12 }, () => r.int(0, 4))),
    );
    const top5 = videos.map((v) => v.map((frame) => m.topClasses(frame, 5)));
    close(
      t,
      m.top5Distance(top5, { noise, difficulty }),
      referenceRankingDist(videos, noise, difficulty),
      `noise ${noise} d ${difficulty}`,
      1e-12,
    );
  }
});
