// lkvit merge SHARD... : joins the shard reports of `eval`, `attack` or `analyze NAME` run with
// --shard i/n into exactly what the unsharded command writes, with the same --out / --json meanings.
import * as fs from 'fs';
import { FlagSpec, parseFlags, usage, UsageError, COMMON_FLAGS, commandOutput } from './args';
import { ShardReport, ShardMergeError, shardFiles, readShardReport, mergeable } from '../shard/report';
import { mergeSuiteShards, SuiteShardPayload } from '../suites/imagenet';
import { writeReport } from '../suites/report';
import { mergeAttackRuns, RunAttackResult } from '../attacks/run';
import { Tensor } from '../tensor/tensor';
import { readSafetensors } from '../io';
import { suiteReportLines } from './eval';
import { AttackShardPayload, writeAttackOutputs } from './attack';
import { finishAnalysis, mergeAnalysisResults } from './analyze';

const FLAGS: Record<string, FlagSpec> = {
  out: { type: 'string', help: "as the sharded command's --out: eval and analyze a folder, attack the x_adv .safetensors file", default: 'none' },
  ...COMMON_FLAGS,
};
const SYNOPSIS = 'SHARD... [--out PATH] [--json [FILE]]\n  SHARD: a shard report (*.shard-I-of-N.json) or a folder holding them; all n shards of one run, each once';

/** An attack shard's run result, its x_adv read back from the .safetensors it wrote. */
function attackRun(r: ShardReport<AttackShardPayload>, withImages: boolean): RunAttackResult {
  const p = r.payload;
  let xAdv: Tensor | null = null;
  if (withImages && p.y.length > 0) {
    const file = r.files?.xAdv;
    if (!file || !fs.existsSync(file)) throw new ShardMergeError(`merge: shard ${r.shard.index}/${r.shard.count} has no x_adv file${file ? ` ('${file}' is missing)` : ' (run it with --out)'}; drop --out to merge only the figures`);
    const t = readSafetensors(file).tensors.get('x_adv');
    if (!t) throw new ShardMergeError(`merge: '${file}' holds no x_adv tensor`);
    xAdv = new Tensor(Float32Array.from(t.data), t.shape);
  }
  return {
    attack: p.attack,
    summary: { samples: 0, cleanAccuracy: 0, robustAccuracy: 0, successRate: 0, meanLinf: 0, meanL2: 0, maxLinf: 0, seconds: r.seconds, transfer: p.transfer },
    cleanPred: Int32Array.from(p.cleanPred), advPred: Int32Array.from(p.advPred), y: Int32Array.from(p.y),
    linf: Float32Array.from(p.linf), l2: Float32Array.from(p.l2), xAdv,
  };
}

export async function mergeCommand(argv: string[], print: (s: string) => void): Promise<void> {
  const cmd = 'merge';
  const split = argv.findIndex((a) => a.startsWith('--'));
  const paths = split < 0 ? argv : argv.slice(0, split);
  const f = parseFlags(split < 0 ? [] : argv.slice(split), FLAGS, cmd);
  if (f.help) return print(usage(cmd, SYNOPSIS, FLAGS));
  if (paths.length === 0) throw new UsageError(`${cmd}: give the shard reports (or their folders) first, then the flags ('lkvit merge --help')`);
  const output = commandOutput(f, print);
  const out = f.out === undefined ? undefined : String(f.out);
  try {
    const files = shardFiles(paths);
    const ordered = mergeable(files.map(readShardReport), files);
    const kind = ordered[0].kind;
    const seconds = ordered.reduce((s, r) => s + r.seconds, 0);
    if (kind === 'eval') {
      if (out === undefined) throw new UsageError(`${cmd}: eval shards need --out DIR for report.json and report.csv`);
      const report = mergeSuiteShards(ordered as ShardReport<SuiteShardPayload>[]);
      writeReport(out, report);
      output.result(report);
      for (const line of suiteReportLines(report)) output.say(line);
      output.say(`report: ${out}/report.json, report.csv (${ordered.length} shards, ${seconds.toFixed(1)} s of compute)`);
    } else if (kind === 'attack') {
      const runs = (ordered as ShardReport<AttackShardPayload>[]).map((r) => attackRun(r, out !== undefined));
      const settings = (ordered[0].run as { settings: Record<string, unknown> }).settings;
      writeAttackOutputs(mergeAttackRuns(runs), settings, out, output);
    } else if (kind.startsWith('analyze:')) {
      if (out === undefined && f.json === undefined) throw new UsageError(`${cmd}: give --out DIR (and/or --json FILE) for the merged analysis`);
      const name = kind.slice('analyze:'.length);
      const run = ordered[0].run as { model: string; weights: string };
      const meta = { analysis: name, model: run.model, weights: run.weights, seconds };
      await finishAnalysis(name, meta, mergeAnalysisResults(name, ordered.map((r) => r.payload as object)), out, output);
    } else {
      throw new ShardMergeError(`merge: unknown shard kind '${kind}' (expected eval, attack or analyze:NAME)`);
    }
  } catch (e) {
    // Shards that do not form one run are bad input: one line, exit 2.
    if (e instanceof ShardMergeError) throw new UsageError(e.message);
    throw e;
  }
}
