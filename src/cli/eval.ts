// lkvit eval: a checkpoint on one robustness suite; writes report.json / report.csv (and the resume
// state) under --out and prints the summary.
import * as fs from 'fs';
import {
  FlagSpec,
  parseFlags,
  usage,
  intFlag,
  UsageError,
  COMMON_FLAGS,
  commandOutput,
  checkOutputs,
  jsonFile,
} from './args';
import { STATE_FILE } from '../suites/report';
import { shardFileName } from '../shard/spec';
import { MODEL_FLAGS, loadModelFromFlags } from './model_flags';
import { SHARD_FLAG, shardFlag } from './shard_flag';
import { evaluateSuite, evaluateSuiteShard, SUITES, SuiteName, SuiteOptions } from '../suites/imagenet';
import type { SuiteBaseline } from '../suites/summaries';
import type { SuiteReport } from '../suites/report';

const FLAGS: Record<string, FlagSpec> = {
  ...MODEL_FLAGS,
  suite: { type: 'string', help: `one of ${SUITES.join(', ')}`, required: true },
  data: { type: 'string', help: "the dataset's folder, in its published layout", required: true },
  'in-dist': {
    type: 'string',
    help: 'imagenet-o: the ImageNet val folder (in-distribution images)',
    default: 'none; imagenet-o requires it',
  },
  severity: { type: 'string', help: 'imagenet-c: severity of the mean top-1 figure', default: '5' },
  baseline: {
    type: 'string',
    help: 'JSON: {"errors":{...}} (imagenet-c) or {"flipProbability":{...},"top5Distance":{...}} (imagenet-p)',
    default: "imagenet-c: AlexNet's errors",
  },
  out: {
    type: 'string',
    help: 'folder for report.json, report.csv and the resume state (with --shard: eval.shard-I-of-N.json and its state)',
    required: true,
  },
  'batch-size': { type: 'string', help: 'images per forward pass', default: '32' },
  limit: { type: 'string', help: 'only the first N samples of each subset', default: 'all' },
  crop: { type: 'string', help: 'centre crop', default: "the model's input size, else 224" },
  'strict-images': {
    type: 'boolean',
    help: 'stop at the first image that cannot be read or decoded (default: report it, leave it out and count it in the report)',
    default: 'off',
  },
  ...SHARD_FLAG,
  ...COMMON_FLAGS,
};
const SYNOPSIS = '--suite NAME --data DIR --out DIR --model NAME --weights FILE [options]';

function readBaseline(file: string): SuiteBaseline {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`eval: cannot read --baseline '${file}': ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new UsageError(`eval: --baseline '${file}' is not valid JSON`);
  }
}

/** The summary lines of a suite report (also what `lkvit merge` prints for eval shards). */
export function suiteReportLines(report: SuiteReport): string[] {
  return [
    `${report.suite}: ${report.samples} samples, ${String(report.model.name)} (weights sha256 ${report.model.weightsSha256?.slice(0, 12)}...)` +
      (report.skipped
        ? `; ${report.skipped.count} left out as unreadable (report.json lists them; --strict-images stops at the first)`
        : ''),
    ...Object.entries(report.summary).map(
      ([metric, value]) =>
        `  ${metric.padEnd(24)} ${value === null ? 'n/a' : Number.isInteger(value) ? String(value) : value.toFixed(4)}`,
    ),
  ];
}

export async function evalCommand(argv: string[], print: (s: string) => void): Promise<void> {
  const f = parseFlags(argv, FLAGS, 'eval');
  if (f.help) return print(usage('eval', SYNOPSIS, FLAGS));
  const output = commandOutput(f, print);
  for (const name of ['suite', 'data', 'out'])
    if (f[name] === undefined) throw new UsageError(`eval: --${name} is required ('lkvit eval --help')`);
  const suite = String(f.suite);
  if (!SUITES.includes(suite))
    throw new UsageError(`eval: unknown suite '${suite}' (expected one of ${SUITES.join(', ')})`);
  for (const name of ['data', 'in-dist'])
    if (f[name] !== undefined && !fs.existsSync(String(f[name])))
      throw new UsageError(`eval: --${name} '${String(f[name])}' does not exist`);
  if (suite === 'imagenet-o' && f['in-dist'] === undefined)
    throw new UsageError('eval: imagenet-o needs --in-dist, the ImageNet val folder');
  const severity = intFlag(f, 'severity', 'eval');
  if (severity !== undefined && severity > 5) throw new UsageError(`eval: --severity must be 1 to 5, got ${severity}`);
  const baseline = f.baseline !== undefined ? readBaseline(String(f.baseline)) : undefined;
  const shard = shardFlag(f, 'eval');
  const json = jsonFile(f);
  const written = shard
    ? [shardFileName('eval', shard), STATE_FILE.replace(/\.jsonl$/, `.shard-${shard.index}-of-${shard.count}.jsonl`)]
    : ['report.json', 'report.csv', STATE_FILE];
  checkOutputs(
    'eval',
    [
      ['weights', f.weights as string | undefined],
      ['baseline', f.baseline as string | undefined],
    ],
    [
      { flag: 'out', path: String(f.out), folder: written },
      ...(json !== undefined ? [{ flag: 'json', path: json }] : []),
    ],
  );
  const model = loadModelFromFlags(f, 'eval', output.say);

  const bar = output.progress(shard ? `${suite} ${shard.index}/${shard.count}` : suite, 0);
  const options = {
    suite: suite as SuiteName,
    data: String(f.data),
    ...(f['in-dist'] !== undefined && { inDistribution: String(f['in-dist']) }),
    batchSize: intFlag(f, 'batch-size', 'eval') ?? 32,
    ...(severity !== undefined && { severity }),
    ...(baseline !== undefined && { baseline }),
    out: String(f.out),
    ...(f.limit !== undefined && { limit: intFlag(f, 'limit', 'eval') }),
    ...(f.crop !== undefined && { crop: intFlag(f, 'crop', 'eval') }),
    modelName: model.modelName ?? String(f.model),
    weightsPath: String(f.weights),
    onProgress: (done: number, total: number) => bar.update(done, total),
    skipUnreadable: !f['strict-images'],
    onSkip: (s: { reason: string }) => output.say(`warning: left out (unreadable image): ${s.reason}`),
  } as SuiteOptions; // the flags are checked per suite above, and evaluateSuite checks them again
  if (shard) {
    const report = await evaluateSuiteShard(model, { ...options, shard });
    bar.finish();
    output.result(report);
    output.say(
      `${suite} shard ${shard.index}/${shard.count}: samples ${report.slice.start}-${report.slice.end} of ${report.slice.total} -> ${String(f.out)}/eval.shard-${shard.index}-of-${shard.count}.json ('lkvit merge' joins the shards)`,
    );
    return;
  }
  const report = await evaluateSuite(model, options);
  bar.finish();
  output.result(report);
  for (const line of suiteReportLines(report)) output.say(line);
  output.say(`report: ${String(f.out)}/report.json, report.csv`);
}
