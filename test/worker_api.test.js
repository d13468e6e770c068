// lkvit.background: the long calls on a worker thread give bit-identical results to the
// synchronous calls, stop on an AbortSignal, report progress, keep error classes, and leave the
// host's event loop free (the acceptance test: a 10 ms timer keeps firing during a
// RepLKNet-31B forward). Serial: a synchronous reference call on this thread would stall the timer test.
'use strict';
const test = require('ava');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const lk = require('../lib');
const { background, Background } = require('../lib/worker');

const VIT = { imageSize: 32, patchSize: 8, depth: 2, embedDim: 16, numHeads: 2, numClasses: 10 };
const REPLK = {
  kernelSizes: [7, 5, 5, 3],
  layers: [1, 1, 1, 1],
  channels: [8, 8, 8, 8],
  smallKernel: 3,
  numClasses: 10,
};

function tinyModel(name, options, seed) {
  lk.manualSeed(seed);
  return lk.createModel(name, options);
}

/** Deterministic images in [0, 1] and labels. */
function samples(n, side, seed) {
  let s = seed >>> 0;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
  const x = lk.tensor(Float32Array.from({ length: n * 3 * side * side }, next), [n, 3, side, side]);
  const y = Int32Array.from({ length: n }, (_, i) => i % 10);
  return { x, y, data: lk.tensorDataset(x, y) };
}

function progressRecorder() {
  const calls = [];
  return { calls, onProgress: (done, total) => calls.push([done, total]) };
}

function assertProgress(t, calls, total) {
  t.true(calls.length >= 2, `progress arrived ${calls.length} times`);
  for (let i = 1; i < calls.length; i++) t.true(calls[i][0] >= calls[i - 1][0], 'progress is monotone');
  t.true(calls.every(([, n]) => n === total));
  t.deepEqual(calls[calls.length - 1], [total, total]);
}

const sameArray = (t, got, want, what) => t.deepEqual(Array.from(got), Array.from(want), what);

test.serial(
  'evaluate: logits, predictions and accuracy equal a main-thread forward bit for bit; progress per batch',
  async (t) => {
    for (const [name, options] of [
      ['vit_ti16', VIT],
      ['replknet31b', REPLK],
    ]) {
      const model = tinyModel(name, options, 7);
      const { x, y, data } = samples(10, 32, 1);
      const p = progressRecorder();
      const r = await background.evaluate(model, data, { batchSize: 4, onProgress: p.onProgress });
      const want = lk.noGrad(() => model.forward(x));
      t.true(r.logits instanceof lk.Tensor);
      t.deepEqual(r.logits.shape, [10, 10]);
      sameArray(t, r.logits.data, want.data, `${name} logits`);
      sameArray(t, r.predictions, lk.argmax(want), `${name} predictions`);
      sameArray(t, r.y, y);
      const correct = Array.from(lk.topkCorrect(want, y, 1)).reduce((a, b) => a + b, 0);
      t.is(r.top1, correct / 10);
      assertProgress(t, p.calls, 10);
      t.deepEqual(
        p.calls.map(([d]) => d),
        [4, 8, 10],
      );
    }
  },
);

test.serial('a model named by spec is built in the worker as createModel builds it with the same seed', async (t) => {
  const { x, data } = samples(3, 32, 2);
  const r = await background.evaluate({ name: 'vit_ti16', options: VIT, seed: 11 }, data);
  sameArray(t, r.logits.data, lk.noGrad(() => tinyModel('vit_ti16', VIT, 11).forward(x)).data);
  // ...and from a weights file, as loadModel loads it.
  const file = path.join(os.tmpdir(), `lkvit-worker-${process.pid}.safetensors`);
  const trained = tinyModel('replknet31b', REPLK, 12);
  lk.saveWeights(trained, file);
  try {
    const fromFile = await background.evaluate(
      { name: 'replknet31b', options: { ...REPLK, numClasses: undefined }, weights: file },
      data,
    );
    sameArray(t, fromFile.logits.data, lk.noGrad(() => trained.forward(x)).data);
  } finally {
    fs.rmSync(file, { force: true });
  }
});

test.serial(
  'an instance travels with its mode, its merged (reparam) structure and a file-backed dataset by path',
  async (t) => {
    const model = tinyModel('replknet31b', REPLK, 13).reparam();
    const { x, y } = samples(5, 32, 3);
    const file = path.join(os.tmpdir(), `lkvit-worker-data-${process.pid}.safetensors`);
    lk.writeSafetensors(file, { x, y: lk.tensor(Float32Array.from(y), [5]) });
    try {
      const r = await background.evaluate(model, { kind: 'safetensors', file }, { batchSize: 2 });
      sameArray(t, r.logits.data, lk.noGrad(() => model.forward(x)).data);
    } finally {
      fs.rmSync(file, { force: true });
    }
  },
);

test.serial(
  'attack: FGSM and PGD adversarial examples and predictions equal synchronous runAttack with the seed',
  async (t) => {
    const model = tinyModel('vit_ti16', VIT, 21);
    const { data } = samples(6, 32, 4);
    for (const options of [
      { attack: 'fgsm', options: { eps: 8 / 255 } },
      { attack: 'pgd', options: { eps: 8 / 255, steps: 3, seed: 5 } },
    ]) {
      const p = progressRecorder();
      const got = await background.attack(model, data, { ...options, batchSize: 4, onProgress: p.onProgress });
      const want = await lk.runAttack(model, data, { ...options, batchSize: 4 });
      sameArray(t, got.xAdv.data, want.xAdv.data, `${options.attack} xAdv`);
      t.deepEqual(got.xAdv.shape, want.xAdv.shape);
      sameArray(t, got.advPred, want.advPred);
      sameArray(t, got.cleanPred, want.cleanPred);
      sameArray(t, got.linf, want.linf);
      t.deepEqual({ ...got.summary, seconds: 0 }, { ...want.summary, seconds: 0 });
      assertProgress(t, p.calls, 6);
    }
  },
);

test.serial('analyze: occlusion and kernel-distance equal the synchronous analyses', async (t) => {
  const vit = tinyModel('vit_ti16', VIT, 31);
  const { data } = samples(6, 32, 5);
  const opts = { ratios: [0, 0.5], patchSize: 8, seed: 3, batchSize: 4 };
  const p = progressRecorder();
  const got = await background.analyze('occlusion', vit, data, { ...opts, onProgress: p.onProgress });
  t.deepEqual(got, await lk.analyses.occlusion(vit, data, opts));
  assertProgress(t, p.calls, 6);
  const replk = tinyModel('replknet31b', REPLK, 32);
  t.deepEqual(await background.analyze('kernel-distance', replk, null), lk.analyses.kernelDistance(replk));
  await t.throwsAsync(background.analyze('kernel-distance', replk, data), {
    instanceOf: TypeError,
    message: /pass null as data/,
  });
});

test.serial(
  'abort: rejects at once with signal.reason, before start, while queued and while running; no callback after abort; the pool stays usable',
  async (t) => {
    const model = tinyModel('vit_ti16', VIT, 41);
    const { x, data } = samples(40, 32, 6);
    const controller = new AbortController();
    const done = [];
    const running = background.attack(model, data, {
      attack: 'pgd',
      options: { eps: 4 / 255, steps: 10 },
      batchSize: 1,
      signal: controller.signal,
      onProgress: (d) => done.push(d) === 2 && controller.abort(),
    });
    // Queued behind the running call on the one-worker pool, then aborted before it starts.
    const queuedController = new AbortController();
    const queued = background.evaluate(model, data, { signal: queuedController.signal });
    queuedController.abort();
    t.is(await t.throwsAsync(queued, { any: true, name: 'AbortError' }), queuedController.signal.reason);
    t.is(await t.throwsAsync(running, { any: true, name: 'AbortError' }), controller.signal.reason);
    t.is(done.length, 2, 'no progress event after abort()');
    // An already aborted signal never starts anything; its own reason is what the call rejects with.
    const why = new Error('the user cancelled');
    t.is(await t.throwsAsync(background.evaluate(model, data, { signal: AbortSignal.abort(why) })), why);
    // AbortSignal.timeout(): the call rejects with its TimeoutError.
    await t.throwsAsync(
      background.attack(model, data, {
        attack: 'pgd',
        options: { eps: 4 / 255, steps: 10 },
        batchSize: 1,
        signal: AbortSignal.timeout(50),
      }),
      { any: true, name: 'TimeoutError' },
    );
    // evaluate checks the signal itself; aborting from its progress callback stops it too (a 224x224
    // ViT-Ti forward per batch gives this thread time to answer).
    const c2 = new AbortController();
    const big = lk.tensorDataset(
      lk.tensor(new Float32Array(20 * 3 * 224 * 224).fill(0.5), [20, 3, 224, 224]),
      new Int32Array(20),
    );
    const evaluated = [];
    await t.throwsAsync(
      background.evaluate({ name: 'vit_ti16', seed: 1 }, big, {
        batchSize: 1,
        signal: c2.signal,
        onProgress: (d) => evaluated.push(d) && c2.abort(),
      }),
      { any: true, name: 'AbortError' },
    );
    t.true(evaluated.length < 20, `stopped after ${evaluated.length} of 20 batches`);
    const r = await background.evaluate(model, data, { batchSize: 16 });
    sameArray(t, r.logits.data, lk.noGrad(() => model.forward(x)).data, 'the next call works');
  },
);

test.serial('errors keep their class, name and message; bad arguments fail before a worker starts', async (t) => {
  const model = tinyModel('vit_ti16', VIT, 51);
  const { data } = samples(2, 32, 7);
  const sync = await t.throwsAsync(lk.runAttack(model, data, { attack: 'pgd', options: { eps: -1 } }));
  const err = await t.throwsAsync(background.attack(model, data, { attack: 'pgd', options: { eps: -1 } }), {
    instanceOf: RangeError,
  });
  t.is(err.message, sync.message);
  t.regex(err.stack, /in the worker thread/);
  const wrongSize = samples(2, 16, 7).data;
  await t.throwsAsync(background.evaluate(model, wrongSize), {
    instanceOf: RangeError,
    message: /this model takes 32x32 images/,
  });
  await t.throwsAsync(background.analyze('occlusion', model, data, { mode: 'middle' }), {
    instanceOf: RangeError,
    message: /mode must be one of/,
  });
  const suite = await t.throwsAsync(background.evaluateSuite(model, { suite: 'imagenet', data: '/nonexistent/lkvit' }));
  const syncSuite = await t.throwsAsync(lk.evaluateSuite(model, { suite: 'imagenet', data: '/nonexistent/lkvit' }));
  t.is(suite.name, syncSuite.name);
  t.is(suite.message, syncSuite.message);
  // Checked on this thread:
  await t.throwsAsync(background.analyze('nope', model, data), {
    instanceOf: RangeError,
    message: /name must be one of 'occlusion'/,
  });
  await t.throwsAsync(background.attack(model, data, { attack: 'nope', options: {} }), {
    instanceOf: RangeError,
    message: /options.attack must be one of 'fgsm'/,
  });
  await t.throwsAsync(background.evaluate({ name: 'nope' }, data), {
    instanceOf: RangeError,
    message: /model.name must be one of/,
  });
  await t.throwsAsync(background.evaluate({ name: 'vit_ti16', weights: '/nonexistent.safetensors' }, data), {
    instanceOf: RangeError,
    message: /does not exist/,
  });
  await t.throwsAsync(
    background.evaluate((x) => x, data),
    { instanceOf: TypeError, message: /model must be an ImageClassifier/ },
  );
  await t.throwsAsync(background.evaluate(model, [1, 2]), {
    instanceOf: TypeError,
    message: /data must be a LabeledDataset/,
  });
  await t.throwsAsync(background.evaluate(model, data, { signal: 'stop' }), {
    instanceOf: TypeError,
    message: /signal must be an AbortSignal/,
  });
  await t.throwsAsync(background.evaluate(model, data, { batchSize: 0 }), {
    instanceOf: RangeError,
    message: /batchSize/,
  });
  await t.throwsAsync(background.attack(model, data, { attack: 'pgd', options: { eps: 0.1, loss: () => 0 } }), {
    instanceOf: TypeError,
    message: /options.options.loss is a function, which cannot be sent/,
  });
  // A callback that throws stops the call and rejects it with that error.
  const boom = new Error('boom');
  t.is(
    await t.throwsAsync(
      background.evaluate(model, data, {
        batchSize: 1,
        onProgress: () => {
          throw boom;
        },
      }),
    ),
    boom,
  );
  t.throws(() => new Background({ maxWorkers: 0 }), { instanceOf: RangeError, message: /maxWorkers/ });
});

test.serial(
  'fit: the same history and the same final weights, BN statistics and mode as a synchronous fit with the seed',
  async (t) => {
    // Built from the class: stem stride and drop path make it a model the registry has no name for.
    const config = {
      kernelSizes: [7, 5, 5, 3],
      layers: [1, 1, 1, 1],
      channels: [8, 8, 8, 8],
      smallKernel: 3,
      dwRatio: 1,
      ffnRatio: 2,
      numClasses: 10,
      stemStride: 2,
      dropPathRate: 0.1,
    };
    const build = () => {
      lk.manualSeed(61);
      return new lk.RepLKNet(config, lk.IMAGENET_MEAN, lk.IMAGENET_STD);
    };
    const { data } = samples(16, 16, 8);
    const validation = samples(6, 16, 9).data;
    const fitOptions = {
      epochs: 2,
      batchSize: 4,
      seed: 5,
      optimizer: { type: 'sgd', lr: 0.05, momentum: 0.9 },
      warmupEpochs: 1,
      labelSmoothing: 0.1,
    };
    const background_ = build();
    const sync = build();
    const steps = [],
      epochs = [],
      progress = [];
    const got = await background.fit(background_, data, {
      ...fitOptions,
      validation,
      onStep: (s) => steps.push(s),
      onEpoch: (m) => epochs.push(m),
      onProgress: (d, n) => progress.push([d, n]),
    });
    const syncSteps = [];
    const want = await lk.fit(sync, data, { ...fitOptions, validation, onStep: (s) => syncSteps.push(s) });
    const noTime = (h) => h.map((m) => ({ ...m, seconds: 0 }));
    t.deepEqual(noTime(got.history), noTime(want.history));
    t.true(got.history.every((m) => typeof m.valAccuracy === 'number'));
    t.deepEqual(noTime(epochs), noTime(want.history), 'onEpoch forwarded');
    t.deepEqual(steps, syncSteps, 'onStep forwarded');
    t.deepEqual(
      progress,
      syncSteps.map((_, i) => [i + 1, 8]),
      'onProgress counts steps over all epochs',
    );
    const a = background_.stateDict(),
      b = sync.stateDict();
    t.deepEqual([...a.keys()], [...b.keys()]);
    for (const [key, v] of b) sameArray(t, a.get(key).data, v.data, key);
    t.true(b.has('norm.running_mean') && b.get('norm.running_mean').data.some((v) => v !== 0), 'BN statistics moved');
    t.is(background_.training, sync.training);
    t.deepEqual(
      background_.namedParameters().map(([, p]) => p.requiresGrad),
      sync.namedParameters().map(([, p]) => p.requiresGrad),
    );
    // Aborting stops at the next step and leaves the caller's model untouched.
    const before = [...background_.stateDict()].map(([, v]) => v.data.slice());
    const controller = new AbortController();
    await t.throwsAsync(
      background.fit(background_, data, {
        ...fitOptions,
        epochs: 50,
        signal: controller.signal,
        onStep: () => controller.abort(),
      }),
      { any: true, name: 'AbortError' },
    );
    [...background_.stateDict()].forEach(([key, v], i) => sameArray(t, v.data, before[i], `${key} untouched`));
    await t.throwsAsync(background.fit(background_, data, { ...fitOptions, augment: (x) => x }), {
      instanceOf: TypeError,
      message: /options.augment is a function/,
    });
    await t.throwsAsync(background.fit({ name: 'vit_ti16' }, data, fitOptions), {
      instanceOf: TypeError,
      message: /ImageClassifier instance/,
    });
    await t.throwsAsync(background.fit(background_, data, { ...fitOptions, epochs: 0 }), {
      instanceOf: RangeError,
      message: /fit: epochs must be/,
    });
  },
);

test.serial(
  'evaluateSuite and an image-file dataset: the worker reads the files; results equal the synchronous calls',
  async (t) => {
    const sharp = require('sharp');
    const model = tinyModel('vit_ti16', { ...VIT, imageSize: 16, numClasses: 1000 }, 71);
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lkvit-worker-suite-'));
    const wnids = lk.IMAGENET_WNIDS;
    const files = [
      [3, 'a.png', 40],
      [3, 'b.png', 120],
      [4, 'c.png', 200],
    ].map(([label, name, r]) => ({ label, file: path.join(root, wnids[label], name), r }));
    for (const f of files) {
      fs.mkdirSync(path.dirname(f.file), { recursive: true });
      await sharp({ create: { width: 20, height: 24, channels: 3, background: { r: f.r, g: 90, b: 255 - f.r } } })
        .png()
        .toFile(f.file);
    }
    try {
      const p = progressRecorder();
      const options = { suite: 'imagenet', data: root, batchSize: 2 };
      const got = await background.evaluateSuite(model, { ...options, onProgress: p.onProgress });
      const want = await lk.evaluateSuite(model, options);
      t.deepEqual(got.summary, want.summary);
      t.deepEqual(got.figures, want.figures);
      assertProgress(t, p.calls, 3);
      const transform = { resize: 18, crop: 16 };
      const r = await background.evaluate(model, {
        kind: 'images',
        files: files.map(({ file, label }) => ({ file, label })),
        transform,
      });
      const b = await lk.loadImageBatch(
        files.map((f) => f.file),
        transform,
      );
      sameArray(t, r.logits.data, lk.noGrad(() => model.forward(lk.tensor(b.data, b.shape))).data);
      sameArray(t, r.y, [3, 3, 4]);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  },
);

test.serial('close() stops the workers and rejects what runs or waits; a later call starts a new worker', async (t) => {
  const pool = new Background();
  const model = tinyModel('vit_ti16', VIT, 81);
  const { x, data } = samples(4, 32, 10);
  const running = pool.attack(model, data, { attack: 'pgd', options: { eps: 0.01, steps: 50 }, batchSize: 1 });
  const waiting = pool.evaluate(model, data);
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.is(pool.workers, 1);
  await pool.close();
  t.is(pool.workers, 0);
  await t.throwsAsync(running, { name: 'AbortError', message: /closed/ });
  await t.throwsAsync(waiting, { name: 'AbortError', message: /closed/ });
  const r = await pool.evaluate(model, data);
  sameArray(t, r.logits.data, lk.noGrad(() => model.forward(x)).data);
  await pool.close();
});

// Other processes on a small shared machine can stall any thread for a while, whatever this code
// does: the measurement is taken up to three times and the best run must meet the bound.
test.serial(
  'the event loop keeps turning during a RepLKNet-31B forward in the worker (10 ms timer, gap < 50 ms)',
  async (t) => {
    const x = lk.tensor(
      Float32Array.from({ length: 3 * 224 * 224 }, (_, i) => ((i * 37) % 101) / 101),
      [1, 3, 224, 224],
    );
    const data = lk.tensorDataset(x, [0]);
    const spec = { name: 'replknet31b', seed: 3 };
    const measure = async () => {
      let last = performance.now(),
        maxGap = 0,
        ticks = 0;
      const timer = setInterval(() => {
        const now = performance.now();
        maxGap = Math.max(maxGap, now - last);
        last = now;
        ticks++;
      }, 10);
      const started = performance.now();
      const result = await background.evaluate(spec, data, { batchSize: 1 });
      const seconds = (performance.now() - started) / 1000;
      clearInterval(timer);
      t.log(
        `background evaluate ${seconds.toFixed(2)} s, ${ticks} ticks, largest gap ${maxGap.toFixed(1)} ms (load average ${os.loadavg()[0].toFixed(1)})`,
      );
      return { result, seconds, ticks, maxGap };
    };
    let best = await measure();
    for (let attempt = 1; attempt < 3 && best.maxGap >= 50; attempt++) {
      const m = await measure();
      if (m.maxGap < best.maxGap) best = m;
    }
    t.true(best.seconds > 0.2, 'the call ran long enough to matter');
    t.true(best.ticks >= (best.seconds * 1000) / 50, `${best.ticks} ticks`);
    t.true(best.maxGap < 50, `largest gap between 10 ms ticks ${best.maxGap.toFixed(1)} ms`);
    lk.manualSeed(3);
    const want = lk.noGrad(() => lk.createModel('replknet31b').forward(x));
    sameArray(t, best.result.logits.data, want.data, 'logits equal a main-thread forward');
  },
);

test.serial('a host process exits by itself after background calls (idle workers do not keep it alive)', (t) => {
  const script = `
    const lk = require(${JSON.stringify(path.join(__dirname, '..', 'lib'))});
    const { background } = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'worker'))});
    const x = lk.tensor(new Float32Array(2 * 3 * 32 * 32).fill(0.5), [2, 3, 32, 32]);
    background.evaluate({ name: 'vit_ti16', options: ${JSON.stringify(VIT)} }, lk.tensorDataset(x, [0, 1]))
      .then((r) => console.log('done', r.logits.shape.join('x'), background.workers));`;
  const r = spawnSync(process.execPath, ['-e', script], { timeout: 20000, encoding: 'utf8' });
  t.is(r.error, undefined, 'no timeout');
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout.trim(), 'done 2x10 1');
});

test('file-backed datasets travel to the worker as their files, not as copies of their samples', async (t) => {
  const { describeDataset } = require('../lib/worker/datasets');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lkvit-src-'));
  const file = path.join(dir, 'd.safetensors');
  const x = Float32Array.from({ length: 4 * 3 * 32 * 32 }, (_, i) => (i % 89) / 89);
  lk.writeSafetensors(file, {
    x: { shape: [4, 3, 32, 32], data: x },
    y: { shape: [4], data: Float32Array.from([1, 2, 3, 4]) },
  });
  const ds = lk.safetensorsDataset(file);
  t.deepEqual(await describeDataset('t', ds), { kind: 'safetensors', file, keys: {} });
  const images = lk.imageDataset([{ file: path.join(dir, 'a.png'), label: 1 }], { resize: 32, crop: 32 });
  t.like(await describeDataset('t', images), { kind: 'images', files: [{ file: path.join(dir, 'a.png'), label: 1 }] });
  const copied = await describeDataset('t', lk.tensorDataset(lk.tensor(x, [4, 3, 32, 32]), [1, 2, 3, 4]));
  t.is(copied.kind, 'samples');
  lk.manualSeed(3);
  const model = lk.createModel('vit_ti16', VIT);
  const r = await background.evaluate(model, ds, { batchSize: 2 });
  sameArray(t, r.logits.data, lk.noGrad(() => model.forward(lk.tensor(x, [4, 3, 32, 32]))).data, 'logits');
  fs.rmSync(dir, { recursive: true });
});
