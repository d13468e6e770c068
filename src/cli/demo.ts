// lkvit demo: trains a large-kernel RepLKNet, the same network with 3x3 kernels and a small ViT on
// the MNIST digits shipped with the package, once per seed, measures how each withstands attacks,
// occlusion, noise and lesions, and writes lkvit-report/ (report.json, CSVs, SVGs, index.html) with
// the mean and range over the seeds and the differences a paired test over the seeds supports.
import * as fs from 'fs';
import * as path from 'path';
import { runDemo, DemoProgress } from '../demo/run';
import { summaryTable } from '../demo/report';
import { DEFAULT_SETTINGS, QUICK_SETTINGS, DEFAULT_SEEDS, QUICK_SEEDS } from '../demo/settings';
import { PERTURBATIONS } from '../demo/perturb';
import type { Progress } from './progress';
import { FlagSpec, parseFlags, usage, intFlag, choiceFlag, COMMON_FLAGS, commandOutput, UsageError } from './args';

const FLAGS: Record<string, FlagSpec> = {
  out: { type: 'string', help: 'report folder (created; its files are overwritten)', default: 'lkvit-report' },
  quick: {
    type: 'boolean',
    help: `fewer epochs and samples (${QUICK_SEEDS} seeds, ${QUICK_SETTINGS.epochs} epochs on ${QUICK_SETTINGS.trainSamples} digits, ${QUICK_SETTINGS.testSamples} test digits): about a minute and a half`,
    default: 'off',
  },
  seeds: {
    type: 'string',
    help: 'how many seeds: each trains the three models afresh on its own split; the report gives mean and range over them',
    default: `${DEFAULT_SEEDS}, --quick ${QUICK_SEEDS}`,
  },
  seed: {
    type: 'string',
    help: 'the first seed (the run uses seed, seed + 1, ...): split, initial weights, shuffling and every random perturbation',
    default: '0',
  },
  perturb: {
    type: 'string',
    help: "where attacks and noise act: 'grey' (the digit's one channel, its three stored copies kept equal) or 'rgb' (each copy independently)",
    default: 'grey',
  },
  epochs: {
    type: 'string',
    help: 'training epochs of each model',
    default: `${DEFAULT_SETTINGS.epochs}, --quick ${QUICK_SETTINGS.epochs}`,
  },
  ...COMMON_FLAGS,
};
const SYNOPSIS =
  '[--quick] [--out lkvit-report] [--seeds N] [--seed 0] [--perturb grey|rgb] [--epochs N] [--json [FILE]] [--quiet]';

export async function demoCommand(argv: string[], print: (s: string) => void): Promise<void> {
  const cmd = 'demo';
  const f = parseFlags(argv, FLAGS, cmd);
  if (f.help) return print(usage(cmd, SYNOPSIS, FLAGS));
  const out = commandOutput(f, print);
  const seed = intFlag(f, 'seed', cmd, 0) ?? 0;
  const seeds = intFlag(f, 'seeds', cmd, 1);
  if (seeds !== undefined && seeds > 1000) throw new UsageError(`${cmd}: --seeds must be at most 1000, got ${seeds}`);
  const perturb = choiceFlag(f, 'perturb', PERTURBATIONS, 'grey', cmd);
  const epochs = intFlag(f, 'epochs', cmd, 1);
  const dir = f.out === undefined ? 'lkvit-report' : String(f.out);
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory())
    throw new UsageError(`${cmd}: --out '${dir}' is a file, expected a folder`);

  const bars = phaseBars(out.progress);
  const count = seeds ?? (f.quick ? QUICK_SEEDS : DEFAULT_SEEDS);
  out.say(
    `lkvit demo${f.quick ? ' --quick' : ''}: ${count} seed${count === 1 ? '' : 's'} (${seed}..${seed + count - 1}), each training 3 models on MNIST digits, then attacks, occlusion, noise, lesions -> ${dir}/`,
  );
  const { report, files } = await runDemo({
    out: dir,
    quick: Boolean(f.quick),
    seed,
    seeds: count,
    settings: { perturb, ...(epochs !== undefined && { epochs }) },
    onProgress: bars.update,
    log: (line) => {
      bars.end();
      out.say(line);
    },
  });
  bars.end();
  out.say('');
  for (const line of summaryTable(report).split('\n')) out.say(line);
  out.say('');
  for (const p of report.conclusion) out.say(p);
  out.say('');
  out.say(
    `report: ${path.join(dir, 'index.html')} (${files.length} files, ${report.timings.totalSeconds.toFixed(0)} s, ${report.timings.cpuSeconds.toFixed(0)} CPU s)`,
  );
  out.result({
    out: dir,
    files,
    seeds: report.seeds,
    quick: report.quick,
    settings: report.settings,
    models: report.models,
    summary: report.summary,
    comparisons: report.comparisons,
    conclusion: report.conclusion,
    timings: report.timings,
  });
}

/** One progress bar per phase of the run (training a model, one figure on one model). */
export function phaseBars(start: (label: string, total: number) => Progress): {
  update: (p: DemoProgress) => void;
  end: () => void;
} {
  let current: { phase: string; bar: Progress } | null = null;
  const end = () => {
    current?.bar.finish();
    current = null;
  };
  return {
    update(p) {
      if (current?.phase !== p.phase) {
        end();
        current = { phase: p.phase, bar: start(p.phase, p.total) };
      }
      current.bar.update(p.done, p.total);
    },
    end,
  };
}
