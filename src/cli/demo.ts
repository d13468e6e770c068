// lkvit demo: trains a large-kernel RepLKNet, the same network with 3x3 kernels and a small ViT on
// the MNIST digits shipped with the package, measures how each withstands attacks, occlusion,
// frequency noise and lesions, and writes lkvit-report/ (report.json, CSVs, SVGs, index.html).
import * as fs from 'fs';
import * as path from 'path';
import { runDemo, DemoProgress } from '../demo/run';
import { summaryTable } from '../demo/report';
import { DEFAULT_SETTINGS, QUICK_SETTINGS } from '../demo/settings';
import type { Progress } from './progress';
import { FlagSpec, parseFlags, usage, intFlag, COMMON_FLAGS, commandOutput, UsageError } from './args';

const FLAGS: Record<string, FlagSpec> = {
  out: { type: 'string', help: 'report folder (created; its files are overwritten)', default: 'lkvit-report' },
  quick: { type: 'boolean', help: `fewer epochs and samples (${QUICK_SETTINGS.epochs} epochs on ${QUICK_SETTINGS.trainSamples} digits, ${QUICK_SETTINGS.testSamples} test digits): about a minute`, default: 'off' },
  seed: { type: 'string', help: 'split, initial weights, shuffling and every random perturbation', default: '0' },
  epochs: { type: 'string', help: 'training epochs of each model', default: `${DEFAULT_SETTINGS.epochs}, --quick ${QUICK_SETTINGS.epochs}` },
  ...COMMON_FLAGS,
};
const SYNOPSIS = '[--quick] [--out lkvit-report] [--seed 0] [--epochs N] [--json [FILE]] [--quiet]';

export async function demoCommand(argv: string[], print: (s: string) => void): Promise<void> {
  const cmd = 'demo';
  const f = parseFlags(argv, FLAGS, cmd);
  if (f.help) return print(usage(cmd, SYNOPSIS, FLAGS));
  const out = commandOutput(f, print);
  const seed = intFlag(f, 'seed', cmd, 0) ?? 0;
  const epochs = intFlag(f, 'epochs', cmd, 1);
  const dir = f.out === undefined ? 'lkvit-report' : String(f.out);
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) throw new UsageError(`${cmd}: --out '${dir}' is a file, expected a folder`);

  const bars = phaseBars(out.progress);
  out.say(`lkvit demo${f.quick ? ' --quick' : ''}: training 3 models on MNIST digits, then attacks, occlusion, frequency noise, lesions -> ${dir}/`);
  const { report, files } = await runDemo({
    out: dir, quick: Boolean(f.quick), seed, ...(epochs !== undefined && { settings: { epochs } }),
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
  out.say(`report: ${path.join(dir, 'index.html')} (${files.length} files, ${report.timings.totalSeconds.toFixed(0)} s)`);
  out.result({
    out: dir, files, seed, quick: report.quick, settings: report.settings, summary: report.summary,
    models: report.models.map(({ name, label, parameters, cleanAccuracy, trainSeconds }) => ({ name, label, parameters, cleanAccuracy, trainSeconds })),
    timings: report.timings,
  });
}

/** One progress bar per phase of the run (training a model, one figure on one model). */
function phaseBars(start: (label: string, total: number) => Progress): { update: (p: DemoProgress) => void; end: () => void } {
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
