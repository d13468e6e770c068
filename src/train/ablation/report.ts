// The ablation's report: one row per combination (clean, PGD and AutoAttack accuracy), written as
// ablation.json, ablation.csv, ablation.txt (the table) and a 4x4 heat map of the robust accuracy
// (rows: the label mixers CutMix/MixUp, columns: the image operations RandAugment/Random Erasing) as
// ablation.svg and ablation.png. Shards of a run are checked (bounded counts, the run's names) and merged here.
import * as fs from 'fs';
import * as path from 'path';
import { heatmap } from '../../plot/svg';
import { svgToPng } from '../../plot';
import type { ShardReport } from '../../shard/report';
import { PayloadChecker } from '../../shard/payload';
import {
  AblationAugment,
  ABLATION_AUGMENTS,
  ALL_COMBINATIONS,
  AUGMENT_LABELS,
  combinationName,
  parseCombination,
} from './combinations';
import type { AblationRun } from './run';
import { AblationSettings, ablationSettings } from './settings';

export interface AblationRow {
  /** 'none', 'cutmix', 'cutmix+randaugment', ... */
  name: string;
  augments: AblationAugment[];
  /** Held-out samples evaluated. */
  samples: number;
  cleanCorrect: number;
  /** Correct both clean and under the attack (so never above cleanCorrect). */
  pgdCorrect: number;
  autoattackCorrect: number;
  cleanAccuracy: number;
  pgdAccuracy: number;
  autoattackAccuracy: number;
  /** Mean training loss per epoch. */
  trainLoss: number[];
  trainSeconds: number;
  evalSeconds: number;
}

export interface AblationReport {
  format: 'lkvit-ablation-report-1';
  run: AblationRun;
  rows: AblationRow[];
  /** Compute time of the call (a merge: the shards' summed). */
  seconds: number;
}

/** What writeAblationReport writes into its folder. */
export const ABLATION_FILES = ['ablation.json', 'ablation.csv', 'ablation.txt', 'ablation.svg', 'ablation.png'];

export function ablationReport(run: AblationRun, rows: AblationRow[], seconds: number): AblationReport {
  return { format: 'lkvit-ablation-report-1', run, rows, seconds };
}

const pct = (v: number) => (100 * v).toFixed(1);

/** The table as text lines: one row per combination, a mark per member, the three accuracies. */
export function ablationTable(report: AblationReport): string {
  const s = report.run.settings;
  const header = [
    'combination',
    ...ABLATION_AUGMENTS.map((a) => AUGMENT_LABELS[a]),
    'clean %',
    `PGD-${s.pgdSteps} %`,
    'AutoAttack %',
  ];
  const rows = report.rows.map((r) => [
    r.name,
    ...ABLATION_AUGMENTS.map((a) => (r.augments.includes(a) ? 'x' : '')),
    pct(r.cleanAccuracy),
    pct(r.pgdAccuracy),
    pct(r.autoattackAccuracy),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  const training =
    s.adversarial === 'none'
      ? 'standard training'
      : `${s.adversarial.toUpperCase()} training (${s.trainAttackSteps} steps, eps warm-up ${s.epsWarmupEpochs} epochs)`;
  return (
    [
      `augmentation ablation: ${report.run.model.name}, ${training}, ${s.epochs} epochs on ${s.trainSamples} samples; ` +
        `accuracy on ${report.rows[0]?.samples ?? s.testSamples} held-out samples, L-inf eps ${+s.eps.toFixed(5)} (robust = correct clean and attacked)`,
      line(header),
      line(widths.map((w) => '-'.repeat(w))),
      ...rows.map(line),
    ].join('\n') + '\n'
  );
}

function csvText(report: AblationReport): string {
  const header = [
    'combination',
    ...ABLATION_AUGMENTS,
    'samples',
    'clean_correct',
    'pgd_correct',
    'autoattack_correct',
    'clean_accuracy',
    'pgd_accuracy',
    'autoattack_accuracy',
    'final_train_loss',
    'train_seconds',
    'eval_seconds',
  ];
  const rows = report.rows.map((r) => [
    r.name,
    ...ABLATION_AUGMENTS.map((a) => (r.augments.includes(a) ? 1 : 0)),
    r.samples,
    r.cleanCorrect,
    r.pgdCorrect,
    r.autoattackCorrect,
    r.cleanAccuracy,
    r.pgdAccuracy,
    r.autoattackAccuracy,
    r.trainLoss[r.trainLoss.length - 1] ?? '',
    +r.trainSeconds.toFixed(2),
    +r.evalSeconds.toFixed(2),
  ]);
  return [header, ...rows].map((r) => r.join(',')).join('\n') + '\n';
}

// Heat-map axes: the label mixers down, the image operations across.
const ROW_SETS: AblationAugment[][] = [[], ['cutmix'], ['mixup'], ['cutmix', 'mixup']];
const COLUMN_SETS: AblationAugment[][] = [[], ['randaugment'], ['erase'], ['randaugment', 'erase']];
// Short labels, so that the ticks fit the cells; the axis labels spell them out.
const SHORT: Record<AblationAugment, string> = { cutmix: 'CM', mixup: 'MU', randaugment: 'RA', erase: 'RE' };
const setLabel = (set: AblationAugment[]) => (set.length ? set.map((a) => SHORT[a]).join('+') : 'none');

/** The figure: AutoAttack accuracy (%) per combination as a 4x4 heat map (a combination not run shows the scale's bottom colour). */
export function plotAblation(report: AblationReport): string {
  const byName = new Map(report.rows.map((r) => [r.name, r]));
  const values = ROW_SETS.map((rs) =>
    COLUMN_SETS.map((cs) => {
      const r = byName.get(combinationName([...rs, ...cs]));
      return r ? 100 * r.autoattackAccuracy : NaN;
    }),
  );
  const s = report.run.settings;
  return heatmap(values, {
    title: `AutoAttack accuracy (%) at eps ${+s.eps.toFixed(4)} by augmentation`,
    xLabel: 'image operations (RA RandAugment, RE Random Erasing)',
    yLabel: 'label mixing (CM CutMix, MU MixUp)',
    xTickLabels: COLUMN_SETS.map(setLabel),
    yTickLabels: ROW_SETS.map(setLabel),
    colorbarLabel: '%',
    width: 640,
    height: 480,
  });
}

/** Writes the report's files into `dir`; returns their names. */
export async function writeAblationReport(dir: string, report: AblationReport): Promise<string[]> {
  fs.mkdirSync(dir, { recursive: true });
  const svg = plotAblation(report);
  const files: [string, string | Buffer][] = [
    ['ablation.json', JSON.stringify(report, null, 2) + '\n'],
    ['ablation.csv', csvText(report)],
    ['ablation.txt', ablationTable(report)],
    ['ablation.svg', svg],
    ['ablation.png', await svgToPng(svg)],
  ];
  for (const [name, content] of files) fs.writeFileSync(path.join(dir, name), content);
  return files.map(([name]) => name);
}

// --- shards: a shard report may come from another machine; every field is checked before it is used.

const MAX_EPOCHS = 100_000;

/** The run a shard states, checked as far as the rows depend on it. */
function checkRun(
  run: Record<string, unknown>,
  c: PayloadChecker,
): { combinations: string[]; samples: number; epochs: number } {
  c.same('run.format', run.format, 'lkvit-ablation-1', "'lkvit-ablation-1'");
  const names = run.combinations;
  if (!Array.isArray(names) || names.length < 1 || names.length > ALL_COMBINATIONS.length)
    throw c.fail('run.combinations', `an array of 1 to ${ALL_COMBINATIONS.length} combination names`);
  const seen = new Set<string>();
  for (const [k, n] of names.entries()) {
    if (!ALL_COMBINATIONS.includes(n as string) || seen.has(n as string))
      throw c.fail(`run.combinations[${k}]`, "a distinct combination name ('none', 'cutmix+mixup', ...)");
    seen.add(n as string);
  }
  // What the table and figure print: the model's name (no terminal escapes) and every setting, checked as the API checks them.
  const model = run.model as Record<string, unknown> | undefined;
  if (!model || typeof model.name !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(model.name))
    throw c.fail('run.model.name', 'a model name (letters, digits, _ . -)');
  let settings: AblationSettings;
  try {
    settings = ablationSettings('run', false, run.settings ?? null);
  } catch (e) {
    // Name the setting (one of ours), never the file's value or its unknown keys.
    const key = /^run: settings\.([A-Za-z]+) /.exec((e as Error).message)?.[1];
    throw key
      ? c.fail(`run.settings.${key}`, 'what runAugmentAblation allows for it')
      : c.fail('run.settings', 'an object of the ablation settings and no other keys');
  }
  c.same('run.settings', settings, run.settings, 'exactly the ablation settings (no other keys)');
  const samples = settings.testSamples,
    epochs = settings.epochs;
  if (epochs > MAX_EPOCHS) throw c.fail('run.settings.epochs', `at most ${MAX_EPOCHS}`);
  return { combinations: names as string[], samples, epochs };
}

/** One row of a shard, rebuilt from its checked fields only (nothing unchecked reaches the report). */
function checkRow(
  v: unknown,
  field: string,
  name: string,
  maxSamples: number,
  epochs: number,
  c: PayloadChecker,
): AblationRow {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw c.fail(field, 'an object');
  const r = v as Record<string, unknown>;
  c.same(`${field}.name`, r.name, name, `'${name}' (the run's combination at this position)`);
  const augments = parseCombination('merge', name);
  c.same(`${field}.augments`, r.augments, augments, JSON.stringify(augments));
  // A shard evaluates every held-out sample of the run (fewer only when the data has fewer).
  const samples = c.int(`${field}.samples`, r.samples, 1, maxSamples);
  const cleanCorrect = c.int(`${field}.cleanCorrect`, r.cleanCorrect, 0, samples);
  const pgdCorrect = c.int(`${field}.pgdCorrect`, r.pgdCorrect, 0, cleanCorrect);
  const autoattackCorrect = c.int(`${field}.autoattackCorrect`, r.autoattackCorrect, 0, cleanCorrect);
  const trainLoss = c.numbers(`${field}.trainLoss`, r.trainLoss, epochs, 0, 1e6);
  return {
    name,
    augments,
    samples,
    cleanCorrect,
    pgdCorrect,
    autoattackCorrect,
    cleanAccuracy: cleanCorrect / samples,
    pgdAccuracy: pgdCorrect / samples,
    autoattackAccuracy: autoattackCorrect / samples,
    trainLoss,
    trainSeconds: c.number(`${field}.trainSeconds`, r.trainSeconds, 0, 1e9),
    evalSeconds: c.number(`${field}.evalSeconds`, r.evalSeconds, 0, 1e9),
  };
}

/** The whole report from all shards of one run (in shard order, from `mergeable`), each row checked. */
export function mergeAblationShards(shards: ShardReport[]): AblationReport {
  const first = new PayloadChecker(`shard 1/${shards[0].shard.count}`);
  const { combinations, samples: maxSamples, epochs } = checkRun(shards[0].run, first);
  if (shards[0].slice.total !== combinations.length)
    throw first.fail('slice.total', `the run's ${combinations.length} combinations`);
  let samples: number | null = null;
  const rows = shards.flatMap((r) => {
    const c = new PayloadChecker(`shard ${r.shard.index}/${r.shard.count}`);
    const p = r.payload as Record<string, unknown>;
    const list = c.array('payload.rows', p.rows, r.slice.end - r.slice.start);
    return list.map((v, k) => {
      const row = checkRow(v, `payload.rows[${k}]`, combinations[r.slice.start + k], maxSamples, epochs, c);
      if (samples !== null && row.samples !== samples)
        throw c.fail(`payload.rows[${k}].samples`, `${samples}, as in the other rows`);
      samples = row.samples;
      return row;
    });
  });
  return ablationReport(
    shards[0].run as unknown as AblationRun,
    rows,
    shards.reduce((s, r) => s + r.seconds, 0),
  );
}
