// The machine's own yardstick: its measured FP32 FMA peak (per ISA path and thread count) and memory
// bandwidth, cached on disk per CPU model, so every timing can also be read as a fraction of them.
// The cache holds numbers only; a file that does not look exactly like ours is ignored.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { native } from '../native';

export type Isa = 'generic' | 'avx2' | 'avx512';
const ISAS: readonly Isa[] = ['generic', 'avx2', 'avx512'];

export interface MachinePeak {
  /** os.cpus()[0].model */
  cpuModel: string;
  /** The SIMD path measured (lk.getIsa().active unless asked for another). */
  isa: Isa;
  threads: number;
  /** float32 lanes of one FMA on that path. */
  lanes: number;
  /** Measured FP32 FMA peak, GFLOP/s (an FMA is 2 FLOPs per lane). */
  fmaGflops: number;
  /** Measured memory bandwidth (triad, 12 bytes per element), GB/s. */
  bandwidthGBs: number;
  /** When the numbers were measured (ISO 8601). */
  measuredAt: string;
  /** The 1-minute load average per core just before the measurement: above 1, other work shared the
   * cores and the numbers are low (measured again, best kept, once the machine is quieter). */
  loadPerCore: number;
  /** True when the numbers came from the cache file rather than a measurement in this call. */
  fromCache: boolean;
}

export interface MachinePeakOptions {
  /** Thread count to measure (default: lk.getNumThreads()). */
  threads?: number;
  /** SIMD path to measure (default: the active one); must be one this CPU supports. */
  isa?: Isa;
  /** Measure again even when the cache has the numbers (and update the cache). */
  refresh?: boolean;
}

// Measurement: 3 timings of ~0.1 s of FMA chains and 3 triads over 3 x 32 MiB (beyond most
// last-level caches per core complex), best kept: well under 2 s even on a loaded machine.
const FMA_SECONDS = 0.1;
const FMA_REPEATS = 3;
const BANDWIDTH_BYTES = 32 << 20;
const BANDWIDTH_REPEATS = 3;

const CACHE_FORMAT = 'lkvit-machine/1';
const CACHE_MAX_BYTES = 64 << 10;
const CACHE_MAX_ENTRIES = 64;

interface CacheEntry {
  lanes: number;
  fmaGflops: number;
  bandwidthGBs: number;
  measuredAt: string;
  loadPerCore: number;
}

// os.loadavg() is [0, 0, 0] where the OS has none (Windows): never busy there.
const loadPerCore = () => os.loadavg()[0] / Math.max(1, os.cpus().length);

/** A cached measurement taken while the cores were shared is retried when the load has since halved. */
const worthRetrying = (e: CacheEntry) => e.loadPerCore > 1 && loadPerCore() < e.loadPerCore / 2;

/** The folder of lkvit's cache: LKVIT_CACHE_DIR, else $XDG_CACHE_HOME/lkvit, else ~/.cache/lkvit. */
export function cacheDir(): string {
  const own = process.env.LKVIT_CACHE_DIR;
  if (own) return path.resolve(own);
  const xdg = process.env.XDG_CACHE_HOME;
  // The XDG spec: a relative XDG_CACHE_HOME is invalid and is ignored.
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, 'lkvit');
  return path.join(os.homedir(), '.cache', 'lkvit');
}

function cacheFile(): string {
  return path.join(cacheDir(), 'machine.json');
}

function cpuModel(): string {
  const model = os.cpus()[0]?.model;
  return typeof model === 'string' && model.trim() ? model.trim() : 'unknown CPU';
}

const keyOf = (model: string, isa: Isa, threads: number) => JSON.stringify([model, isa, threads]);

function validEntry(v: unknown): v is CacheEntry {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const e = v as Record<string, unknown>;
  const positive = (x: unknown, max: number) => typeof x === 'number' && Number.isFinite(x) && x > 0 && x <= max;
  return (
    Number.isInteger(e.lanes) &&
    (e.lanes as number) >= 1 &&
    (e.lanes as number) <= 64 &&
    positive(e.fmaGflops, 1e7) &&
    positive(e.bandwidthGBs, 1e6) &&
    typeof e.loadPerCore === 'number' &&
    e.loadPerCore >= 0 &&
    e.loadPerCore <= 1e4 &&
    typeof e.measuredAt === 'string' &&
    e.measuredAt.length <= 40 &&
    Number.isFinite(Date.parse(e.measuredAt))
  );
}

/** The cache's valid entries; an unreadable, oversized, non-regular or malformed file reads as empty. */
function readCache(file: string): Map<string, CacheEntry> {
  const entries = new Map<string, CacheEntry>();
  let fd: number | undefined;
  try {
    // O_NONBLOCK: a FIFO planted at the path must not hang the open; fstat then refuses it.
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.size > CACHE_MAX_BYTES) return entries;
    const buf = Buffer.alloc(st.size);
    if (fs.readSync(fd, buf, 0, st.size, 0) !== st.size) return entries;
    const doc = JSON.parse(buf.toString('utf8')) as unknown;
    if (typeof doc !== 'object' || doc === null || (doc as Record<string, unknown>).format !== CACHE_FORMAT)
      return entries;
    const list = (doc as Record<string, unknown>).entries;
    if (!Array.isArray(list) || list.length > CACHE_MAX_ENTRIES) return entries;
    for (const item of list) {
      if (!Array.isArray(item) || item.length !== 2 || typeof item[0] !== 'string' || item[0].length > 1024) continue;
      if (validEntry(item[1])) {
        const { lanes, fmaGflops, bandwidthGBs, measuredAt, loadPerCore } = item[1];
        entries.set(item[0], { lanes, fmaGflops, bandwidthGBs, measuredAt, loadPerCore });
      }
    }
  } catch {
    entries.clear(); // missing or malformed: measure instead
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  return entries;
}

/** Adds an entry to the cache file (newest kept when full); any failure to write is ignored. */
function writeCache(file: string, key: string, entry: CacheEntry): void {
  const entries = readCache(file);
  entries.delete(key);
  entries.set(key, entry);
  const list = [...entries].slice(-CACHE_MAX_ENTRIES);
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    fs.writeFileSync(tmp, JSON.stringify({ format: CACHE_FORMAT, entries: list }, null, 1) + '\n', {
      flag: 'wx',
      mode: 0o600,
    });
    fs.renameSync(tmp, file); // atomic: a reader sees the old file or the new one
  } catch {
    try {
      fs.unlinkSync(tmp);
    } catch {
      // nothing was written
    }
  }
}

// Measured or read once per process (per cache file, CPU model, ISA and thread count).
const memo = new Map<string, MachinePeak>();

function checkThreads(threads: unknown, what: string): number {
  if (typeof threads !== 'number' || !Number.isInteger(threads) || threads < 1 || threads > 256)
    throw new RangeError(`${what}: threads must be an integer in [1, 256], got ${String(threads)}`);
  return threads;
}

function checkIsa(isa: unknown, what: string): Isa {
  const { best } = native.getIsa() as { best: Isa };
  if (!ISAS.includes(isa as Isa))
    throw new RangeError(`${what}: isa must be 'generic', 'avx2' or 'avx512', got ${String(isa)}`);
  if (ISAS.indexOf(isa as Isa) > ISAS.indexOf(best))
    throw new RangeError(`${what}: isa '${String(isa)}' is not supported by this CPU (best: ${best})`);
  return isa as Isa;
}

/** Runs fn with the ISA path `isa` active, restoring the previous one. */
function withIsa<T>(isa: Isa, fn: () => T): T {
  const { active } = native.getIsa() as { active: Isa };
  if (active === isa) return fn();
  native.setIsa(isa);
  try {
    return fn();
  } finally {
    native.setIsa(active);
  }
}

/**
 * The machine's FP32 FMA peak (GFLOP/s) of one ISA path on `threads` threads and its memory
 * bandwidth (GB/s): read from the cache (LKVIT_CACHE_DIR, $XDG_CACHE_HOME/lkvit or ~/.cache/lkvit,
 * machine.json, keyed by CPU model, ISA and threads), else measured (about 0.5-1 s) and cached.
 * A cached measurement taken on busy cores is measured again once the load has halved, best kept.
 */
export function machinePeak(options: MachinePeakOptions = {}): MachinePeak {
  if (typeof options !== 'object' || options === null) throw new TypeError('machinePeak: options must be an object');
  const threads = checkThreads(options.threads ?? (native.getNumThreads() as number), 'machinePeak');
  const isa = checkIsa(options.isa ?? (native.getIsa() as { active: Isa }).active, 'machinePeak');
  const model = cpuModel();
  const file = cacheFile();
  const key = keyOf(model, isa, threads);
  const memoKey = JSON.stringify([file, key]);
  let previous: CacheEntry | undefined;
  if (!options.refresh) {
    const known = memo.get(memoKey);
    if (known) return { ...known };
    previous = readCache(file).get(key);
    if (previous && !worthRetrying(previous)) {
      const peak: MachinePeak = { cpuModel: model, isa, threads, ...previous, fromCache: true };
      memo.set(memoKey, peak);
      return { ...peak };
    }
  }
  const load = loadPerCore();
  const measured = withIsa(isa, () => ({
    lanes: native.fmaLanes() as number,
    fmaGflops: native.measureFmaPeak(threads, FMA_SECONDS, FMA_REPEATS) as number,
    bandwidthGBs: native.measureBandwidth(threads, BANDWIDTH_BYTES, BANDWIDTH_REPEATS) as number,
  }));
  // A retried busy measurement keeps the better numbers of the two: a peak is a best case.
  const entry: CacheEntry = previous
    ? {
        lanes: measured.lanes,
        fmaGflops: Math.max(previous.fmaGflops, measured.fmaGflops),
        bandwidthGBs: Math.max(previous.bandwidthGBs, measured.bandwidthGBs),
        measuredAt: new Date().toISOString(),
        loadPerCore: Math.min(previous.loadPerCore, load),
      }
    : { ...measured, measuredAt: new Date().toISOString(), loadPerCore: load };
  writeCache(file, key, entry);
  const peak: MachinePeak = { cpuModel: model, isa, threads, ...entry, fromCache: false };
  memo.set(memoKey, { ...peak, fromCache: true });
  return peak;
}

/**
 * machinePeak() for every ISA path this CPU supports (or `isas`) and each thread count (default:
 * 1, 2, 4, ... up to lk.getNumThreads(), and that count itself): one row each, cached like it.
 */
export function machinePeakTable(options: { threads?: number[]; isas?: Isa[]; refresh?: boolean } = {}): MachinePeak[] {
  const { best } = native.getIsa() as { best: Isa };
  const isas = (options.isas ?? ISAS.slice(0, ISAS.indexOf(best) + 1)).map((i) => checkIsa(i, 'machinePeakTable'));
  let threads = options.threads;
  if (threads === undefined) {
    const n = native.getNumThreads() as number;
    threads = [];
    for (let t = 1; t < n; t *= 2) threads.push(t);
    threads.push(n);
  }
  if (!Array.isArray(threads) || threads.length === 0 || threads.length > 64)
    throw new RangeError('machinePeakTable: threads must be a list of 1 to 64 thread counts');
  threads.forEach((t) => checkThreads(t, 'machinePeakTable'));
  return isas.flatMap((isa) => threads!.map((t) => machinePeak({ threads: t, isa, refresh: options.refresh })));
}

/** One line for the top of a report: CPU model, ISA, threads, peak, bandwidth and their ratio (the
 * machine balance: below it in FLOPs per byte, a kernel is memory-bound). */
export function machineLine(m: MachinePeak): string {
  return (
    `${m.cpuModel}, ${m.isa} (${m.lanes} lanes), ${m.threads} thread(s): measured peak ${m.fmaGflops.toFixed(1)} GFLOP/s FP32, ` +
    `bandwidth ${m.bandwidthGBs.toFixed(1)} GB/s, balance ${(m.fmaGflops / m.bandwidthGBs).toFixed(1)} FLOP/B` +
    (m.fromCache ? ` (measured ${m.measuredAt.slice(0, 10)}, cached)` : '') +
    (m.loadPerCore > 1
      ? `; measured while the cores were shared (load ${m.loadPerCore.toFixed(1)} per core): the peak is low, the % of peak high`
      : '')
  );
}
