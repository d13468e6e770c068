// The profiler: while a profile runs, every kernel function of the native addon is replaced in place
// by a wrapper that times it and counts its FLOPs and the bytes of the arrays it is given (the ops
// call native.X(...) through the addon object at call time, so they go through the wrappers); the
// originals are put back when the last profile ends. One row per native function, plus the time
// outside native calls (JavaScript, allocation, garbage collection), so the rows add up to the wall
// time. Only this thread's calls are seen (not those of lk.background workers).
import { isMainThread } from 'worker_threads';
import { nativeTable as native, NativeFn } from '../native';
import { flopsOf } from './flops';
import { machinePeak, machineLine, MachinePeak } from './machine';

// Settings, not kernels: left alone.
const UNTRACKED = new Set(['getNumThreads', 'setNumThreads', 'getIsa', 'setIsa', 'fmaLanes']);
// The yardstick's own measurement (when a profiled run measures the machine for the first time):
// its time is taken out of the profile, not shown as the user's work.
const EXCLUDED = new Set(['measureFmaPeak', 'measureBandwidth']);

/** The row name of the time spent outside native calls. */
export const OUTSIDE_NATIVE = '(outside native calls)';

export interface ProfileRow {
  /** The native function ('dwconv2dForward', 'gemm', ...), or '(outside native calls)'. */
  op: string;
  calls: number;
  ms: number;
  /** ms / total ms. */
  share: number;
  /** FLOPs done, conventional count (every kernel tap, padding included), in GFLOP. */
  gflop: number;
  /** FLOPs done counting only the taps that meet the input (differs from gflop for convolutions). */
  usefulGflop: number;
  gflops: number;
  usefulGflops: number;
  /** gflops / the machine's measured peak (0..1; above 1 the peak was measured on a busy machine: --refresh-peak). */
  peakFraction: number;
  usefulPeakFraction: number;
  /** Bytes of the typed arrays passed to the calls: a lower bound on the memory traffic. */
  bytes: number;
  /** Conventional FLOPs per byte passed. */
  flopsPerByte: number;
  /** 'compute' when flopsPerByte >= the machine balance (peak / bandwidth), else 'memory'; null for the outside row. */
  bound: 'compute' | 'memory' | null;
}

export interface ProfileResult<T> {
  result: T;
  /** Native functions by time, slowest first, then the outside row. */
  rows: ProfileRow[];
  /** The sums (ms is the wall time of the profiled call; calls, FLOPs and bytes of all rows). */
  total: ProfileRow;
  /** The yardstick the fractions are of: the active ISA path at the current thread count. */
  machine: MachinePeak;
}

interface Tally {
  calls: number;
  ns: number;
  flops: number;
  useful: number;
  bytes: number;
}

class Session {
  readonly tallies = new Map<string, Tally>();
  readonly start = process.hrtime.bigint();
  /** Wall time, less the excluded calls. */
  ns = 0;
  excludedNs = 0;
}

const sessions = new Set<Session>();
const originals = new Map<string, { fn: NativeFn; wrapper: NativeFn }>();

function bytesOf(args: readonly unknown[]): number {
  let bytes = 0;
  for (const a of args) if (ArrayBuffer.isView(a)) bytes += a.byteLength;
  return bytes;
}

function record(name: string, ns: number, args: readonly unknown[]): void {
  if (EXCLUDED.has(name)) {
    for (const s of sessions) s.excludedNs += ns;
    return;
  }
  const { conventional, useful } = flopsOf(name, args);
  const bytes = bytesOf(args);
  for (const s of sessions) {
    let t = s.tallies.get(name);
    if (!t) s.tallies.set(name, (t = { calls: 0, ns: 0, flops: 0, useful: 0, bytes: 0 }));
    t.calls++;
    t.ns += ns;
    t.flops += conventional;
    t.useful += useful;
    t.bytes += bytes;
  }
}

function wrap(name: string, fn: NativeFn): NativeFn {
  return function profiled(...args: unknown[]): unknown {
    const t0 = process.hrtime.bigint();
    const out = fn.apply(native, args); // a call that throws did no work: not recorded
    record(name, Number(process.hrtime.bigint() - t0), args);
    return out;
  };
}

function install(): void {
  for (const [name, fn] of Object.entries(native)) {
    if (typeof fn !== 'function' || UNTRACKED.has(name)) continue;
    const wrapper = wrap(name, fn);
    originals.set(name, { fn, wrapper });
    native[name] = wrapper;
  }
}

function uninstall(): void {
  // Put back only what is still ours (something else may have replaced a function meanwhile).
  for (const [name, { fn, wrapper }] of originals) if (native[name] === wrapper) native[name] = fn;
  originals.clear();
}

function begin(): Session {
  if (sessions.size === 0) install();
  const s = new Session();
  sessions.add(s);
  return s;
}

function end(s: Session): void {
  s.ns = Number(process.hrtime.bigint() - s.start) - s.excludedNs;
  sessions.delete(s);
  if (sessions.size === 0) uninstall();
}

function row(op: string, t: Tally, totalMs: number, m: MachinePeak): ProfileRow {
  const ms = t.ns / 1e6;
  const rate = (flops: number) => (ms > 0 ? flops / ms / 1e6 : 0);
  const gflops = rate(t.flops),
    usefulGflops = rate(t.useful);
  const flopsPerByte = t.bytes > 0 ? t.flops / t.bytes : 0;
  return {
    op,
    calls: t.calls,
    ms,
    share: totalMs > 0 ? ms / totalMs : 0,
    gflop: t.flops / 1e9,
    usefulGflop: t.useful / 1e9,
    gflops,
    usefulGflops,
    peakFraction: gflops / m.fmaGflops,
    usefulPeakFraction: usefulGflops / m.fmaGflops,
    bytes: t.bytes,
    flopsPerByte,
    bound: op === OUTSIDE_NATIVE ? null : flopsPerByte >= m.fmaGflops / m.bandwidthGBs ? 'compute' : 'memory',
  };
}

function report<T>(s: Session, result: T, machine: MachinePeak): ProfileResult<T> {
  const tallies = [...s.tallies].sort((a, b) => b[1].ns - a[1].ns);
  const nativeNs = tallies.reduce((sum, [, t]) => sum + t.ns, 0);
  const outside: Tally = { calls: 0, ns: Math.max(0, s.ns - nativeNs), flops: 0, useful: 0, bytes: 0 };
  const all: Tally = { calls: 0, ns: nativeNs + outside.ns, flops: 0, useful: 0, bytes: 0 };
  for (const [, t] of tallies) {
    all.calls += t.calls;
    all.flops += t.flops;
    all.useful += t.useful;
    all.bytes += t.bytes;
  }
  const totalMs = all.ns / 1e6;
  const rows = [
    ...tallies.map(([name, t]) => row(name, t, totalMs, machine)),
    row(OUTSIDE_NATIVE, outside, totalMs, machine),
  ];
  return { result, rows, total: { ...row('total', all, totalMs, machine), bound: null }, machine };
}

/**
 * Runs fn (sync or async) with every native kernel call timed and counted; returns its result with
 * one row per native function (calls, ms, share, GFLOP/s, fraction of the machine's peak, bytes,
 * compute- or memory-bound) and the total. The machine's peak is measured first (or read from the
 * cache) and is not part of the timing. Profiles may nest; an async fn's profile also sees native
 * calls made by other code on this thread while it runs.
 */
export function profile<T>(fn: () => Promise<T>): Promise<ProfileResult<T>>;
export function profile<T>(fn: () => T): ProfileResult<T>;
export function profile<T>(fn: () => T | Promise<T>): ProfileResult<T> | Promise<ProfileResult<T>> {
  if (typeof fn !== 'function') throw new TypeError(`profile: fn must be a function, got ${typeof fn}`);
  const machine = machinePeak();
  const s = begin();
  let out: T | Promise<T>;
  try {
    out = fn();
  } catch (e) {
    end(s);
    throw e;
  }
  if (out && typeof (out as Promise<T>).then === 'function') {
    return Promise.resolve(out).then(
      (value) => (end(s), report(s, value, machine)),
      (e) => {
        end(s);
        throw e;
      },
    );
  }
  end(s);
  return report(s, out as T, machine);
}

// Three significant figures or so, never 0.00 for a small non-zero value.
const num = (v: number) =>
  v === 0 ? '0' : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 0.01 ? v.toFixed(2) : v.toPrecision(2);

/** The profile as a text table: the machine line, one line per row, the total. */
export function formatProfile(p: Pick<ProfileResult<unknown>, 'rows' | 'total' | 'machine'>): string {
  const header = [
    'op',
    'calls',
    'ms',
    'share',
    'GFLOP',
    'GFLOP/s',
    '% peak',
    'useful GFLOP/s',
    'useful % peak',
    'MB in (>=)',
    'FLOP/B',
    'bound',
  ];
  const cells = (r: ProfileRow) => [
    r.op,
    r.op === OUTSIDE_NATIVE ? '' : String(r.calls),
    num(r.ms),
    `${(100 * r.share).toFixed(1)}%`,
    r.gflop ? num(r.gflop) : '',
    r.gflop ? num(r.gflops) : '',
    r.gflop ? num(100 * r.peakFraction) : '',
    r.usefulGflop ? num(r.usefulGflops) : '',
    r.usefulGflop ? num(100 * r.usefulPeakFraction) : '',
    r.bytes ? num(r.bytes / 1e6) : '',
    r.bytes ? num(r.flopsPerByte) : '',
    r.bound ?? '',
  ];
  const body = [...p.rows.map(cells), cells(p.total)];
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (c: string[]) =>
    c
      .map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return (
    [
      `machine: ${machineLine(p.machine)}`,
      line(header),
      ...body.slice(0, -1).map(line),
      line(body[body.length - 1]),
      'GFLOP: conventional count (all kernel taps); useful: taps that meet the input; MB in: bytes of the arrays passed (a lower bound on traffic).',
    ].join('\n') + '\n'
  );
}

// LKVIT_PROFILE=1 profiles the whole process (main thread) and prints the table to stderr at exit.
const PROFILE_ENV = process.env.LKVIT_PROFILE;
if (PROFILE_ENV && PROFILE_ENV !== '0' && isMainThread) {
  const whole = begin();
  process.once('exit', () => {
    end(whole);
    try {
      process.stderr.write(
        `\nLKVIT_PROFILE: the whole process\n${formatProfile(report(whole, undefined, machinePeak()))}`,
      );
    } catch (e) {
      process.stderr.write(`LKVIT_PROFILE: no profile (${(e as Error).message})\n`);
    }
  });
}
