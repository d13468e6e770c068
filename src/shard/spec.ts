// Which part of a run a shard does: `--shard i/n` (1-based, as jest and Playwright count) names the
// i-th of n contiguous slices. Slices are cut on whole batches of the unsharded run, so that every
// shard sees the very batches (and per-batch seeds) the single run sees and the merge is bit-identical.

export interface ShardSpec {
  /** 1-based: 1 <= index <= count. */
  index: number;
  count: number;
}

/** [start, end) of a run's samples that one shard processes, out of `total`. */
export interface ShardSlice {
  start: number;
  end: number;
  total: number;
}

/** Parses 'i/n' (1 <= i <= n, both integers); a RangeError names what was expected. */
export function parseShard(text: string): ShardSpec {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(String(text));
  const spec = m ? { index: Number(m[1]), count: Number(m[2]) } : null;
  if (!spec || !Number.isSafeInteger(spec.count) || spec.count < 1 || spec.index < 1 || spec.index > spec.count)
    throw new RangeError(`shard must be i/n with integers 1 <= i <= n (e.g. 2/8), got '${String(text)}'`);
  return spec;
}

/** Checks a ShardSpec object from the API (TypeError / RangeError naming `name`). */
export function checkShard(fn: string, v: unknown, name = 'shard'): ShardSpec | undefined {
  if (v === undefined) return undefined;
  const s = v as ShardSpec;
  if (!s || typeof s !== 'object' || typeof s.index !== 'number' || typeof s.count !== 'number')
    throw new TypeError(`${fn}: ${name} must be { index, count } (1-based index), got ${typeof v}`);
  if (!Number.isInteger(s.count) || !Number.isInteger(s.index) || s.count < 1 || s.index < 1 || s.index > s.count)
    throw new RangeError(`${fn}: ${name} must have integers 1 <= index <= count, got ${s.index}/${s.count}`);
  return { index: s.index, count: s.count };
}

/** Units [a, b) of `units` for a shard: floor((i - 1) u / n) to floor(i u / n), as even as it gets. */
export function shardUnits(units: number, shard: ShardSpec): [number, number] {
  return [Math.floor(((shard.index - 1) * units) / shard.count), Math.floor((shard.index * units) / shard.count)];
}

/** The shard's slice of `total` samples processed `batchSize` at a time from sample 0 (whole batches). */
export function shardSlice(total: number, batchSize: number, shard: ShardSpec | undefined): ShardSlice {
  if (!shard) return { start: 0, end: total, total };
  const [a, b] = shardUnits(Math.ceil(total / batchSize), shard);
  return { start: Math.min(total, a * batchSize), end: Math.min(total, b * batchSize), total };
}

/** The file name of shard i of n of `what` ('eval', 'attack', 'occlusion', ...): what.shard-i-of-n.json. */
export function shardFileName(what: string, shard: ShardSpec): string {
  return `${what}.shard-${shard.index}-of-${shard.count}.json`;
}

export const SHARD_FILE_PATTERN = /\.shard-(\d+)-of-(\d+)\.json$/;
