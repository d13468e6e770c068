// A shard's report: what it did (kind, i/n, its slice), what the run was (everything a result depends
// on: model, weights hash, data, settings), and its payload (per-sample or integer-count results that
// merge exactly). mergeable() refuses sets that cannot make the single run's report.
import * as fs from 'fs';
import * as path from 'path';
import { ShardSpec, ShardSlice, SHARD_FILE_PATTERN } from './spec';

export const SHARD_FORMAT = 'lkvit-shard/1';

export interface ShardReport<P = unknown> {
  format: typeof SHARD_FORMAT;
  /** 'eval', 'attack' or 'analyze:NAME'. */
  kind: string;
  shard: ShardSpec;
  slice: ShardSlice;
  /** Identical in every shard of one run (compared as JSON). */
  run: Record<string, unknown>;
  /** Compute time of this shard (the only field a merge sums rather than checks). */
  seconds: number;
  payload: P;
  /** Files written beside the report (e.g. the attack's x_adv), by role, relative to the report's folder. */
  files?: Record<string, string>;
}

/** Why a set of shard reports cannot be merged (bad input: the CLI turns it into exit 2). */
export class ShardMergeError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = 'ShardMergeError';
  }
}

export function writeShardReport(file: string, report: ShardReport): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(report) + '\n');
}

/** Shard report files: each argument is a report file, or a folder whose *.shard-I-of-N.json are taken. */
export function shardFiles(paths: string[]): string[] {
  const files: string[] = [];
  for (const p of paths) {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(p);
    } catch {
      throw new ShardMergeError(`merge: '${p}' does not exist`);
    }
    if (!stat.isDirectory()) {
      files.push(p);
      continue;
    }
    const found = fs.readdirSync(p).filter((n) => SHARD_FILE_PATTERN.test(n)).sort().map((n) => path.join(p, n));
    if (found.length === 0) throw new ShardMergeError(`merge: no shard report (*.shard-I-of-N.json) in folder '${p}'`);
    files.push(...found);
  }
  return files;
}

/** Reads one shard report, with its files made absolute. */
export function readShardReport(file: string): ShardReport {
  let report: ShardReport;
  try {
    report = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ShardMergeError(`merge: '${file}' is not a readable shard report (${(e as Error).message.split('\n')[0]})`);
  }
  if (!report || report.format !== SHARD_FORMAT || typeof report.kind !== 'string' || !report.shard || !report.slice || !report.run)
    throw new ShardMergeError(`merge: '${file}' is not a shard report (no format '${SHARD_FORMAT}')`);
  const dir = path.dirname(file);
  if (report.files) for (const [role, f] of Object.entries(report.files)) report.files[role] = path.resolve(dir, f);
  return report;
}

/** The first top-level key where two run descriptions differ. */
function firstDifference(a: Record<string, unknown>, b: Record<string, unknown>): string {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  return keys.find((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k])) ?? '?';
}

/**
 * Checks that `reports` are all n shards of one run, each once, and returns them in shard order.
 * `names` label the reports in messages (their files).
 */
export function mergeable<P>(reports: ShardReport<P>[], names: string[] = reports.map((r) => `shard ${r.shard.index}/${r.shard.count}`)): ShardReport<P>[] {
  if (reports.length === 0) throw new ShardMergeError('merge: no shard reports given');
  const first = reports[0];
  reports.forEach((r, k) => {
    if (r.kind !== first.kind) throw new ShardMergeError(`merge: ${names[k]} is a '${r.kind}' shard, ${names[0]} an '${first.kind}' shard`);
    if (r.shard.count !== first.shard.count)
      throw new ShardMergeError(`merge: ${names[k]} is one of ${r.shard.count} shards, ${names[0]} one of ${first.shard.count}`);
    if (JSON.stringify(r.run) !== JSON.stringify(first.run))
      throw new ShardMergeError(`merge: ${names[k]} and ${names[0]} come from different runs (${firstDifference(r.run, first.run)} differs)`);
  });
  const byIndex = new Map<number, number>();
  reports.forEach((r, k) => {
    const seen = byIndex.get(r.shard.index);
    if (seen !== undefined) throw new ShardMergeError(`merge: shard ${r.shard.index}/${r.shard.count} given twice (${names[seen]} and ${names[k]})`);
    byIndex.set(r.shard.index, k);
  });
  const n = first.shard.count;
  const missing = Array.from({ length: n }, (_, i) => i + 1).filter((i) => !byIndex.has(i));
  if (missing.length) throw new ShardMergeError(`merge: missing shard(s) ${missing.map((i) => `${i}/${n}`).join(', ')} of ${n}`);
  const ordered = Array.from({ length: n }, (_, i) => reports[byIndex.get(i + 1)!]);
  // Slices must tile [0, total): a guard against reports edited or written by another version.
  ordered.reduce((at, r, i) => {
    if (r.slice.start !== at || r.slice.total !== first.slice.total)
      throw new ShardMergeError(`merge: shard ${i + 1}/${n} covers samples ${r.slice.start}-${r.slice.end} of ${r.slice.total}, expected to start at ${at} of ${first.slice.total}`);
    return r.slice.end;
  }, 0);
  if (ordered[n - 1].slice.end !== first.slice.total) throw new ShardMergeError(`merge: the shards cover ${ordered[n - 1].slice.end} of ${first.slice.total} samples`);
  return ordered;
}
