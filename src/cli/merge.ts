// lkvit merge SHARD... : joins the shard reports of `eval`, `attack`, `analyze NAME` or `ablate` run with
// --shard i/n into exactly what the unsharded command writes, with the same --out / --json meanings.
import type { AttackName } from '../attacks/run';
import { FlagSpec, parseFlags, usage, UsageError, COMMON_FLAGS, commandOutput, checkOutputs, jsonFile } from './args';
import { ShardReport, ShardMergeError, shardFiles, readShardReport, readShardFile, mergeable } from '../shard/report';
import { PayloadChecker, withTolerance } from '../shard/payload';
import { shown } from '../shard/files';
import { mergeSuiteShards, SuiteShardPayload } from '../suites/imagenet';
import { writeReport } from '../suites/report';
import { mergeAttackRuns, perturbationBounds, RunAttackResult, ATTACKS } from '../attacks/run';
import { Tensor } from '../tensor/tensor';
import { parseSafetensors } from '../io';
import { checkAnalysisShards } from '../suites/analyses/shards';
import { suiteReportLines } from './eval';
import { AttackShardPayload, writeAttackOutputs } from './attack';
import { finishAnalysis, mergeAnalysisResults } from './analyze';
import { mergeAblationShards, writeAblationReport, ablationTable, ABLATION_FILES } from '../train/ablation';

const FLAGS: Record<string, FlagSpec> = {
  out: {
    type: 'string',
    help: "as the sharded command's --out: eval and analyze a folder, attack the x_adv .safetensors file",
    default: 'none',
  },
  ...COMMON_FLAGS,
};
const SYNOPSIS =
  'SHARD... [--out PATH] [--json [FILE]]\n  SHARD: a shard report (*.shard-I-of-N.json) or a folder holding them; all n shards of one run, each once';

/** What an attack shard's run must state for merge to check its values: the classes and what bounds the norms. */
interface AttackRunInfo {
  settings: { attack: string; eps: number; norm: string; space: string; surrogate?: string };
  batchSize: number;
  samples: number;
  numClasses: number;
  attackStd: [number, number, number];
  sampleShape: number[];
}

function checkAttackRun(run: Record<string, unknown>, c: PayloadChecker): AttackRunInfo {
  const r = run as unknown as AttackRunInfo;
  const s = r.settings;
  if (!s || typeof s !== 'object') throw c.fail('run.settings', 'an object');
  c.number('run.settings.eps', s.eps, 0, 1e6);
  if (!['linf', 'l2'].includes(s.norm)) throw c.fail('run.settings.norm', "'linf' or 'l2'");
  if (!['pixel', 'normalized'].includes(s.space)) throw c.fail('run.settings.space', "'pixel' or 'normalized'");
  if (!Object.prototype.hasOwnProperty.call(ATTACKS, s.attack))
    throw c.fail('run.settings.attack', `one of ${Object.keys(ATTACKS).join(', ')}`);
  c.int('run.batchSize', r.batchSize, 1, 2 ** 31 - 1);
  c.int('run.samples', r.samples, 1, 2 ** 31 - 1);
  c.int('run.numClasses', r.numClasses, 1, 2 ** 24);
  c.numbers('run.attackStd', r.attackStd, 3, 1e-6, 1e6);
  c.ints('run.sampleShape', r.sampleShape, 3, 1, 2 ** 16);
  return r;
}

/** An attack shard's run result, its values checked against the run, its x_adv read back from the .safetensors it wrote. */
function attackRun(r: ShardReport<AttackShardPayload>, withImages: boolean): RunAttackResult {
  const c = new PayloadChecker(`shard ${r.shard.index}/${r.shard.count}`);
  const run = checkAttackRun(r.run, c);
  const p = r.payload as unknown as Record<string, unknown>;
  const N = r.slice.end - r.slice.start;
  if (r.slice.total !== run.samples) throw c.fail('slice.total', `the run's ${run.samples} samples`);
  const K = run.numClasses,
    D = run.sampleShape.reduce((a, b) => a * b, 1);
  const bound = perturbationBounds(
    run.settings.eps,
    run.settings.norm as 'linf' | 'l2',
    run.settings.space === 'normalized' ? run.attackStd : null,
    D,
  );
  c.same('payload.attack', p.attack, run.settings.attack, `the run's attack '${run.settings.attack}'`);
  c.same(
    'payload.transfer',
    p.transfer,
    run.settings.surrogate !== undefined,
    `${run.settings.surrogate !== undefined} (the run ${run.settings.surrogate !== undefined ? 'has' : 'has no'} surrogate)`,
  );
  const cleanPred = c.ints('payload.cleanPred', p.cleanPred, N, 0, K - 1),
    advPred = c.ints('payload.advPred', p.advPred, N, 0, K - 1);
  const y = c.ints('payload.y', p.y, N, 0, 2 ** 31 - 1);
  const linf = c.numbers('payload.linf', p.linf, N, 0, withTolerance(bound.linf)),
    l2 = c.numbers('payload.l2', p.l2, N, 0, withTolerance(bound.l2));
  if (p.xAdvShape !== null)
    c.same('payload.xAdvShape', p.xAdvShape, [N, ...run.sampleShape], `null or [${N}, ${run.sampleShape.join(', ')}]`);
  let xAdv: Tensor | null = null;
  if (withImages && N > 0) {
    if (!r.files?.xAdv)
      throw new ShardMergeError(
        `merge: ${c.where} has no x_adv file (run it with --out); drop --out to merge only the figures`,
      );
    // x_adv [N, ...] float32 plus y, clean_pred, adv_pred [N] and a header with the settings.
    const bytes = readShardFile(r, 'xAdv', 4 * N * (D + 3) + MAX_SAFETENSORS_HEADER);
    let t;
    try {
      t = parseSafetensors(bytes).tensors.get('x_adv');
    } catch {
      t = undefined;
    }
    const name = `the x_adv file '${shown(r.files.xAdv)}' of ${c.where}`;
    if (!t || JSON.stringify(t.shape) !== JSON.stringify([N, ...run.sampleShape]))
      throw new ShardMergeError(`merge: ${name} holds no x_adv tensor [${N}, ${run.sampleShape.join(', ')}]`);
    for (let i = 0; i < t.data.length; i++)
      if (!(t.data[i] >= 0 && t.data[i] <= 1))
        throw new ShardMergeError(`merge: ${name} has pixel values outside [0, 1]`);
    xAdv = new Tensor(Float32Array.from(t.data), t.shape);
  }
  return {
    attack: run.settings.attack as AttackName,
    summary: {
      samples: 0,
      cleanAccuracy: 0,
      robustAccuracy: 0,
      successRate: 0,
      meanLinf: 0,
      meanL2: 0,
      maxLinf: 0,
      seconds: r.seconds,
      transfer: run.settings.surrogate !== undefined,
    },
    cleanPred: Int32Array.from(cleanPred),
    advPred: Int32Array.from(advPred),
    y: Int32Array.from(y),
    linf: Float32Array.from(linf),
    l2: Float32Array.from(l2),
    xAdv,
  };
}

/** The header of the x_adv file: tensor entries and the attack's settings as metadata. */
const MAX_SAFETENSORS_HEADER = 2 ** 20;

/** The batch size that cut the run's slices, where the run records one (eval slices follow its subsets). */
function runBatchSize(kind: string, run: Record<string, unknown>, c: PayloadChecker): number | undefined {
  if (kind === 'attack') return c.int('run.batchSize', run.batchSize, 1, 2 ** 31 - 1);
  // An ablation's shards are slices of its combinations, one at a time.
  if (kind === 'ablation') return 1;
  if (!kind.startsWith('analyze:')) return undefined;
  const flag = (run.flags as Record<string, unknown> | undefined)?.['batch-size'];
  if (flag === undefined) return 32;
  if (typeof flag !== 'string' || !/^[0-9]{1,10}$/.test(flag))
    throw c.fail("run.flags['batch-size']", 'a decimal integer');
  return c.int("run.flags['batch-size']", Number(flag), 1, 2 ** 31 - 1);
}

export async function mergeCommand(argv: string[], print: (s: string) => void): Promise<void> {
  const cmd = 'merge';
  const split = argv.findIndex((a) => a.startsWith('--'));
  const paths = split < 0 ? argv : argv.slice(0, split);
  const f = parseFlags(split < 0 ? [] : argv.slice(split), FLAGS, cmd);
  if (f.help) return print(usage(cmd, SYNOPSIS, FLAGS));
  if (paths.length === 0)
    throw new UsageError(
      `${cmd}: give the shard reports (or their folders) first, then the flags ('lkvit merge --help')`,
    );
  const output = commandOutput(f, print);
  const out = f.out === undefined ? undefined : String(f.out);
  try {
    const files = shardFiles(paths);
    const reports = files.map((file) => readShardReport(file, !paths.includes(file)));
    const first = reports[0];
    const batchSize = runBatchSize(
      first.kind,
      first.run,
      new PayloadChecker(`shard ${first.shard.index}/${first.shard.count} ('${shown(files[0])}')`),
    );
    const ordered = mergeable(reports, files, batchSize);
    const kind = ordered[0].kind;
    // Nothing merge reads may be overwritten by what it writes.
    const inputs = [...files, ...ordered.flatMap((r) => Object.values(r.files ?? {}))].map((p): [string, string] => [
      `the shard input '${shown(p)}'`,
      p,
    ]);
    const name = kind.slice('analyze:'.length);
    const json = jsonFile(f);
    checkOutputs(cmd, inputs, [
      ...(out === undefined
        ? []
        : [
            kind === 'attack'
              ? { flag: 'out', path: out }
              : {
                  flag: 'out',
                  path: out,
                  folder:
                    kind === 'eval'
                      ? ['report.json', 'report.csv']
                      : kind === 'ablation'
                        ? ABLATION_FILES
                        : ['json', 'csv', 'svg', 'png'].map((e) => `${name}.${e}`),
                },
          ]),
      ...(json !== undefined ? [{ flag: 'json', path: json }] : []),
    ]);
    const seconds = ordered.reduce((s, r) => s + r.seconds, 0);
    if (kind === 'eval') {
      if (out === undefined) throw new UsageError(`${cmd}: eval shards need --out DIR for report.json and report.csv`);
      const report = mergeSuiteShards(ordered as ShardReport<SuiteShardPayload>[]);
      writeReport(out, report);
      output.result(report);
      for (const line of suiteReportLines(report)) output.say(line);
      output.say(
        `report: ${out}/report.json, report.csv (${ordered.length} shards, ${seconds.toFixed(1)} s of compute)`,
      );
    } else if (kind === 'attack') {
      const runs = (ordered as ShardReport<AttackShardPayload>[]).map((r) => attackRun(r, out !== undefined));
      const settings = (ordered[0].run as { settings: Record<string, unknown> }).settings;
      writeAttackOutputs(mergeAttackRuns(runs), settings, out, output);
    } else if (kind.startsWith('analyze:')) {
      if (out === undefined && f.json === undefined)
        throw new UsageError(`${cmd}: give --out DIR (and/or --json FILE) for the merged analysis`);
      const run = ordered[0].run as { model: string; weights: string };
      const meta = { analysis: name, model: run.model, weights: run.weights, seconds };
      await finishAnalysis(name, meta, mergeAnalysisResults(name, checkAnalysisShards(name, ordered)), out, output);
    } else if (kind === 'ablation') {
      if (out === undefined)
        throw new UsageError(`${cmd}: ablation shards need --out DIR for ${ABLATION_FILES.join(', ')}`);
      const report = mergeAblationShards(ordered);
      await writeAblationReport(out, report);
      output.result(report);
      for (const line of ablationTable(report).trimEnd().split('\n')) output.say(line);
      output.say(
        `report: ${out}/ablation.json, .csv, .txt, .svg, .png (${ordered.length} shards, ${seconds.toFixed(1)} s of compute)`,
      );
    } else {
      throw new ShardMergeError(
        `merge: unknown shard kind '${kind}' (expected eval, attack, analyze:NAME or ablation)`,
      );
    }
  } catch (e) {
    // Shards that do not form one run are bad input: one line, exit 2.
    if (e instanceof ShardMergeError) throw new UsageError(e.message);
    throw e;
  }
}
