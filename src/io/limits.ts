// How much memory a file may make the loaders allocate. A checkpoint of a few hundred bytes can
// describe gigabytes (stride-0 views, aliased storages, a pickle that copies one list thousands of
// times), so every materialised byte is charged to a budget with two limits: an absolute cap, and
// a multiple of the file's size, which real files never approach (F16 -> F32 doubles, U8 -> F32
// is the most, x4) but aliasing tricks exceed at once.
import * as fs from 'node:fs';
import { constants as bufferConstants } from 'node:buffer';
import { CheckpointError } from './errors';

/** Memory limits of one load; both are checked, the smaller one binds. */
export interface LoadLimits {
  /** Absolute cap on the bytes a load materialises (decoded tensors, inflated entries, pickled containers). Default 8 GiB. */
  maxBytes?: number;
  /** Cap as a multiple of the file's size (never below 64 MiB, so small files always load). Default 4. */
  maxExpansion?: number;
}

export const DEFAULT_MAX_LOAD_BYTES = 8 * 2 ** 30;
export const DEFAULT_MAX_EXPANSION = 4;
/** The relative limit never goes below this, so tiny legitimate files (optimizer state, test checkpoints) load. */
export const EXPANSION_FLOOR_BYTES = 64 * 2 ** 20;

/** Checks a LoadLimits argument; `fn` names the caller in the error. */
export function checkLoadLimits(fn: string, limits: unknown): Required<LoadLimits> {
  if (limits === undefined) return { maxBytes: DEFAULT_MAX_LOAD_BYTES, maxExpansion: DEFAULT_MAX_EXPANSION };
  if (limits === null || typeof limits !== 'object' || Array.isArray(limits))
    throw new TypeError(
      `${fn}: options must be an object like { maxBytes, maxExpansion }, got ${limits === null ? 'null' : typeof limits}`,
    );
  const { maxBytes = DEFAULT_MAX_LOAD_BYTES, maxExpansion = DEFAULT_MAX_EXPANSION } = limits as LoadLimits;
  for (const [name, v] of [
    ['maxBytes', maxBytes],
    ['maxExpansion', maxExpansion],
  ] as const)
    if (typeof v !== 'number' || !(v > 0))
      throw new RangeError(
        `${fn}: options.${name} must be a positive number (Infinity for no limit), got ${String(v)}`,
      );
  return { maxBytes, maxExpansion };
}

/** A load went over one of its limits (a CheckpointError whose message names the limit and its option). */
export class LoadLimitError extends CheckpointError {}

/** The bytes one load has materialised so far, against its two limits. */
export class LoadBudget {
  private used = 0;
  private readonly relative: number;

  /** `source` names the file in messages, already made printable. */
  constructor(
    readonly source: string,
    readonly fileBytes: number,
    readonly limits: Required<LoadLimits>,
  ) {
    this.relative = Math.max(EXPANSION_FLOOR_BYTES, limits.maxExpansion * fileBytes);
  }

  /** Adds `bytes` about to be allocated for `what`; throws a CheckpointError naming the limit and its option when over. */
  charge(bytes: number, what: string): void {
    this.used += bytes;
    if (this.used <= this.limits.maxBytes && this.used <= this.relative) return;
    const tail = `${this.source}: ${what} would bring the memory this file makes lkvit allocate to ${formatBytes(this.used)}`;
    if (this.limits.maxBytes <= this.relative)
      throw new LoadLimitError(
        `${tail}, over the absolute limit maxBytes = ${formatBytes(this.limits.maxBytes)}. ` +
          'If you trust the file, raise it with the maxBytes option (lkvit commands: --max-load-bytes)',
      );
    throw new LoadLimitError(
      `${tail}, over maxExpansion = ${this.limits.maxExpansion} x the file's ${formatBytes(this.fileBytes)} ` +
        `(at least ${formatBytes(EXPANSION_FLOOR_BYTES)}): a file this small does not hold that much data, it repeats or aliases it. ` +
        'If you trust the file, raise it with the maxExpansion option (lkvit commands: --max-load-expansion)',
    );
  }
}

/** 1536 -> '1.5 KiB'. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${n} bytes` : `${Number(n.toFixed(2))} ${units[i]}`;
}

/** '8GiB', '512M', '1e9', '1.5 GB' -> bytes (K/M/G/T and KiB/MiB/... are powers of 1024, KB/MB/GB powers of 1000); NaN if malformed. */
export function parseByteSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?(?:e\d+)?)\s*(|k|m|g|t|ki|mi|gi|ti|kib|mib|gib|tib|kb|mb|gb|tb|b)\s*$/i.exec(
    String(text),
  );
  if (!m) return NaN;
  const unit = m[2].toLowerCase();
  const power = { '': 0, b: 0, k: 1, m: 2, g: 3, t: 4 }[unit[0] ?? ''] ?? 0;
  const base = unit.length === 2 && unit[1] === 'b' ? 1000 : 1024;
  return Math.round(Number(m[1]) * base ** power);
}

// One read call moves at most 2 GiB - 1 bytes (libuv's limit); bigger files are read in parts.
const READ_CHUNK = 2 ** 30;
const MAX_BUFFER_BYTES = bufferConstants.MAX_LENGTH;

/**
 * Reads a whole regular file, refusing anything else before reading a byte: FIFOs and sockets
 * (which would block), devices such as /dev/zero (endless), folders. The file is opened
 * non-blocking and checked through its descriptor, so a swap between the check and the read
 * cannot slip a FIFO in.
 */
export function readRegularFileSync(path: string, fail: (problem: string) => Error, maxBytes = Infinity): Buffer {
  const fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const size = checkRegular(fs.fstatSync(fd), fail, maxBytes);
    const out = Buffer.allocUnsafe(size);
    let at = 0;
    while (at < size) {
      const n = fs.readSync(fd, out, at, Math.min(size - at, READ_CHUNK), at);
      if (n === 0) break;
      at += n;
    }
    if (at !== size) throw fail(`shrank from ${size} to ${at} bytes while being read`);
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

/** readRegularFileSync, without blocking the event loop. */
export async function readRegularFile(
  path: string,
  fail: (problem: string) => Error,
  maxBytes = Infinity,
): Promise<Buffer> {
  const handle = await fs.promises.open(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const size = checkRegular(await handle.stat(), fail, maxBytes);
    const out = Buffer.allocUnsafe(size);
    let at = 0;
    while (at < size) {
      const { bytesRead } = await handle.read(out, at, Math.min(size - at, READ_CHUNK), at);
      if (bytesRead === 0) break;
      at += bytesRead;
    }
    if (at !== size) throw fail(`shrank from ${size} to ${at} bytes while being read`);
    return out;
  } finally {
    await handle.close();
  }
}

function checkRegular(stat: fs.Stats, fail: (problem: string) => Error, maxBytes: number): number {
  if (!stat.isFile()) throw fail(`is not a regular file (${fileKind(stat)}); lkvit reads only regular files`);
  if (stat.size > maxBytes)
    throw fail(
      `is ${formatBytes(stat.size)}, over the absolute limit maxBytes = ${formatBytes(maxBytes)}; if you trust the file, raise it with the maxBytes option (lkvit commands: --max-load-bytes)`,
    );
  if (stat.size > MAX_BUFFER_BYTES)
    throw fail(
      `is ${formatBytes(stat.size)}, more than Node can hold in one buffer (${formatBytes(MAX_BUFFER_BYTES)}); split it (e.g. sharded safetensors)`,
    );
  return stat.size;
}

function fileKind(stat: fs.Stats): string {
  if (stat.isDirectory()) return 'a folder';
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isSocket()) return 'a socket';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  return 'not a file';
}
