// A shard's report: what it did (kind, i/n, its slice), what the run was (everything a result depends
// on: model, weights hash, data, settings), and its payload (per-sample or integer-count results that
// merge exactly). mergeable() refuses sets that cannot make the single run's report.
import * as fs from 'fs';
import * as path from 'path';
import { ShardSpec, ShardSlice, SHARD_FILE_PATTERN, shardSlice } from './spec';
import { readRegularFile, UnsafeFileError, fileInFolder, sha256, sha256FileSync, shown } from './files';

export const SHARD_FORMAT = 'lkvit-shard/2';

/** The largest shard report merge reads (a whole ImageNet-C eval in one shard is about 300 MB). */
export const MAX_SHARD_REPORT_BYTES = 512 * 2 ** 20;

export interface ShardReport<P = unknown> {
  format: typeof SHARD_FORMAT;
  /** 'eval', 'attack', 'analyze:NAME' or 'ablation'. */
  kind: string;
  shard: ShardSpec;
  slice: ShardSlice;
  /** Identical in every shard of one run (compared as JSON). */
  run: Record<string, unknown>;
  /** Compute time of this shard (the only field a merge sums rather than checks). */
  seconds: number;
  payload: P;
  /** Files written beside the report (e.g. the attack's x_adv), by role: plain names in the report's folder. */
  files?: Record<string, string>;
  /** SHA-256 of JSON.stringify(payload) and of each file, set by writeShardReport and checked by readShardReport
   * (the files when they are read). It catches damaged or naively edited shards, not a forger, who can
   * recompute it: merge's range checks are what bound the figures. */
  digest?: { payload: string; files: Record<string, string> };
}

/** Why a set of shard reports cannot be merged (bad input: the CLI turns it into exit 2). */
export class ShardMergeError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = 'ShardMergeError';
  }
}

/** Writes a shard report with its digest (files are named relative to the report's folder, which must hold them). */
export function writeShardReport(file: string, report: ShardReport): void {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true });
  const files: Record<string, string> = {};
  for (const [role, name] of Object.entries(report.files ?? {})) {
    const full = fileInFolder(dir, name);
    if (!full)
      throw new RangeError(`writeShardReport: files.${role} must be a file name in the report's folder, got '${name}'`);
    files[role] = sha256FileSync(full);
  }
  report.digest = { payload: sha256(JSON.stringify(report.payload)), files };
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
      throw new ShardMergeError(`merge: '${shown(p)}' does not exist`);
    }
    if (!stat.isDirectory()) {
      files.push(p);
      continue;
    }
    const found = fs
      .readdirSync(p)
      .filter((n) => SHARD_FILE_PATTERN.test(n))
      .sort()
      .map((n) => path.join(p, n));
    if (found.length === 0)
      throw new ShardMergeError(`merge: no shard report (*.shard-I-of-N.json) in folder '${shown(p)}'`);
    files.push(...found);
  }
  return files;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Reads one shard report: a regular file of at most MAX_SHARD_REPORT_BYTES, whose fields have the
 * right types and whose payload matches its digest; its files become absolute paths in its folder.
 * `listed` (found in a folder rather than named) refuses a symbolic link. Messages never quote the file.
 */
export function readShardReport(file: string, listed = false): ShardReport {
  const bad = (why: string) => new ShardMergeError(`merge: '${shown(file)}' ${why}`);
  let text: string;
  try {
    text = readRegularFile(file, MAX_SHARD_REPORT_BYTES, !listed).toString('utf8');
  } catch (e) {
    if (e instanceof UnsafeFileError) throw bad(e.message);
    throw e;
  }
  let report: ShardReport;
  try {
    report = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the text: say only that it is not JSON.
    throw bad('is not a shard report (not valid JSON)');
  }
  if (!isObject(report) || report.format !== SHARD_FORMAT) {
    const format =
      isObject(report) && typeof report.format === 'string' && /^lkvit-shard\/\d+$/.test(report.format)
        ? report.format
        : null;
    throw bad(
      format
        ? `is a shard report of format ${format} (this lkvit reads ${SHARD_FORMAT}: rerun the shard)`
        : `is not a shard report (no format '${SHARD_FORMAT}')`,
    );
  }
  if (typeof report.kind !== 'string' || !/^(eval|attack|analyze:[a-z-]{1,40}|ablation)$/.test(report.kind))
    throw bad('has no valid kind (eval, attack, analyze:NAME or ablation)');
  const s = report.shard as unknown as Record<string, unknown>;
  if (!isObject(s) || !isCount(s.count) || !isCount(s.index) || s.count < 1 || s.index < 1 || s.index > s.count)
    throw bad('has no valid shard (integers 1 <= index <= count)');
  const sl = report.slice as unknown as Record<string, unknown>;
  if (
    !isObject(sl) ||
    !isCount(sl.start) ||
    !isCount(sl.end) ||
    !isCount(sl.total) ||
    !(sl.start <= sl.end && sl.end <= sl.total)
  )
    throw bad('has no valid slice (integers 0 <= start <= end <= total)');
  if (!isObject(report.run)) throw bad('has no run description');
  if (typeof report.seconds !== 'number' || !Number.isFinite(report.seconds) || report.seconds < 0)
    throw bad('has no valid seconds (a finite number >= 0)');
  if (!isObject(report.payload)) throw bad('has no payload');
  const d = report.digest as unknown as Record<string, unknown>;
  if (
    !isObject(d) ||
    typeof d.payload !== 'string' ||
    !HEX64.test(d.payload) ||
    !isObject(d.files) ||
    !Object.values(d.files).every((h) => typeof h === 'string' && HEX64.test(h))
  )
    throw bad('has no valid digest (sha256 of its payload and files)');
  const where = `shard ${report.shard.index}/${report.shard.count} ('${shown(file)}')`;
  if (sha256(JSON.stringify(report.payload)) !== d.payload)
    throw new ShardMergeError(`merge: ${where} does not match its digest: its payload was edited or damaged`);
  const files = report.files ?? {};
  if (!isObject(files)) throw bad('has no valid files (role -> file name)');
  const roles = Object.keys(files);
  if (
    roles.length !== Object.keys(d.files).length ||
    roles.some((r) => !Object.prototype.hasOwnProperty.call(d.files, r))
  )
    throw bad('has files without a digest (or digests without a file)');
  const dir = path.dirname(path.resolve(file));
  for (const role of roles) {
    const full = fileInFolder(dir, files[role]);
    if (!full)
      throw new ShardMergeError(
        `merge: ${where} names files.${role} outside its folder (only plain file names beside the report are read)`,
      );
    files[role] = full;
  }
  return report;
}

/**
 * Reads file `role` of a shard report (from readShardReport) whole, at most `maxBytes`, and checks it
 * against the report's digest. A link, FIFO, device, oversized or edited file is a ShardMergeError.
 */
export function readShardFile(report: ShardReport, role: string, maxBytes: number): Buffer {
  const file = report.files?.[role];
  const where = `shard ${report.shard.index}/${report.shard.count}`;
  if (!file) throw new ShardMergeError(`merge: ${where} has no ${role} file`);
  let bytes: Buffer;
  try {
    bytes = readRegularFile(file, maxBytes, false);
  } catch (e) {
    if (e instanceof UnsafeFileError)
      throw new ShardMergeError(`merge: the ${role} file '${shown(file)}' of ${where} ${e.message}`);
    throw e;
  }
  if (sha256(bytes) !== report.digest?.files[role])
    throw new ShardMergeError(
      `merge: the ${role} file '${shown(file)}' of ${where} does not match the shard's digest: it was edited, damaged or replaced`,
    );
  return bytes;
}

/** The first top-level key where two run descriptions differ. */
function firstDifference(a: Record<string, unknown>, b: Record<string, unknown>): string {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  const key = keys.find((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k])) ?? '?';
  // The key comes from the file: print it only when it is a plain identifier.
  return /^[A-Za-z0-9_-]{1,40}$/.test(key) ? key : 'a field';
}

/**
 * Checks that `reports` are all n shards of one run, each once, and returns them in shard order.
 * `names` label the reports in messages (their files); `batchSize`, when the run has one, fixes each slice.
 */
export function mergeable<P>(
  reports: ShardReport<P>[],
  labels: string[] = reports.map((r) => `shard ${r.shard.index}/${r.shard.count}`),
  batchSize?: number,
): ShardReport<P>[] {
  const names = labels.map(shown);
  if (reports.length === 0) throw new ShardMergeError('merge: no shard reports given');
  const first = reports[0];
  reports.forEach((r, k) => {
    if (r.kind !== first.kind)
      throw new ShardMergeError(`merge: ${names[k]} is a '${r.kind}' shard, ${names[0]} an '${first.kind}' shard`);
    if (r.shard.count !== first.shard.count)
      throw new ShardMergeError(
        `merge: ${names[k]} is one of ${r.shard.count} shards, ${names[0]} one of ${first.shard.count}`,
      );
    if (JSON.stringify(r.run) !== JSON.stringify(first.run))
      throw new ShardMergeError(
        `merge: ${names[k]} and ${names[0]} come from different runs (${firstDifference(r.run, first.run)} differs)`,
      );
  });
  const byIndex = new Map<number, number>();
  reports.forEach((r, k) => {
    const seen = byIndex.get(r.shard.index);
    if (seen !== undefined)
      throw new ShardMergeError(
        `merge: shard ${r.shard.index}/${r.shard.count} given twice (${names[seen]} and ${names[k]})`,
      );
    byIndex.set(r.shard.index, k);
  });
  const n = first.shard.count;
  if (byIndex.size !== n) {
    // n is whatever a report claims: name the first few missing without walking all of them.
    const missing: number[] = [];
    for (let i = 1; i <= n && missing.length < 8; i++) if (!byIndex.has(i)) missing.push(i);
    const more = n - byIndex.size - missing.length;
    throw new ShardMergeError(
      `merge: missing shard(s) ${missing.map((i) => `${i}/${n}`).join(', ')}${more > 0 ? ` and ${more} more` : ''} of ${n}`,
    );
  }
  const ordered = Array.from({ length: n }, (_, i) => reports[byIndex.get(i + 1)!]);
  // Slices must tile [0, total), and be the ones --shard i/n cuts when the batch size is known.
  ordered.reduce((at, r, i) => {
    if (r.slice.start !== at || r.slice.total !== first.slice.total)
      throw new ShardMergeError(
        `merge: shard ${i + 1}/${n} covers samples ${r.slice.start}-${r.slice.end} of ${r.slice.total}, expected to start at ${at} of ${first.slice.total}`,
      );
    if (batchSize !== undefined) {
      const want = shardSlice(r.slice.total, batchSize, r.shard);
      if (want.start !== r.slice.start || want.end !== r.slice.end)
        throw new ShardMergeError(
          `merge: shard ${i + 1}/${n} covers samples ${r.slice.start}-${r.slice.end}, but shard ${i + 1}/${n} of ${r.slice.total} samples in batches of ${batchSize} is ${want.start}-${want.end}`,
        );
    }
    return r.slice.end;
  }, 0);
  if (ordered[n - 1].slice.end !== first.slice.total)
    throw new ShardMergeError(`merge: the shards cover ${ordered[n - 1].slice.end} of ${first.slice.total} samples`);
  return ordered;
}
