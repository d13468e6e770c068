// The one timing rule every bench module uses: warm up for at least `warmMs` (and twice), so cores
// that idled while PyTorch ran are back at full speed, then the median of `reps` timed runs.
// `setup`, when given, runs untimed before each call and its result is passed to `fn`.
'use strict';

function medianMs(fn, reps, { setup = () => undefined, warmMs = 200, warmCalls = 2 } = {}) {
  const end = process.hrtime.bigint() + BigInt(Math.round(warmMs * 1e6));
  for (let i = 0; i < warmCalls || process.hrtime.bigint() < end; i++) fn(setup());
  const times = [];
  for (let i = 0; i < reps; i++) {
    const s = setup();
    const t0 = process.hrtime.bigint();
    fn(s);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

module.exports = { medianMs };
