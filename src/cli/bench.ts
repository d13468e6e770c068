// lkvit bench: the kernel-size microbenchmark for users of the installed package. The timing and
// the PyTorch peer are the repository's bench/ modules (one timing rule for `npm run bench` and
// this command); this file parses, runs the cases and prints the table or the JSON: medians with
// their spread (min-max), GFLOP/s and % of the machine's measured peak (src/perf/machine.ts).
import * as path from 'path';
import {
  FlagSpec,
  Flags,
  parseFlags,
  usage,
  intFlag,
  commandOutput,
  COMMON_FLAGS,
  UsageError,
  CommandOutput,
} from './args';
import { configFlag, configKeys, modelNameFlag } from './model_flags';
import { createModel, MODELS } from '../models/registry';
import { RepLKNet } from '../models/replknet';
import { manualSeed } from '../nn';
import { getNumThreads, setNumThreads } from '../index';
import { machinePeak, machineLine, MachinePeak } from '../perf/machine';

// bench/ ships with the package next to lib/.
const BENCH_DIR = path.join(__dirname, '..', '..', 'bench');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const benchModule = (name: string) => require(path.join(BENCH_DIR, name));

interface TorchPeer {
  version: string;
  blas: string;
  ask(req: Record<string, unknown>): Promise<Record<string, any>>;
  close(): void;
}
type Timings = { fwd_ms: number; fwd_bwd_ms: number };
/** lkvit's side of a case, per pass (fwd, fwd_bwd): the median, [min, max] over the runs, GFLOP/s and
 * % of the machine's peak by the conventional count and on the taps that meet the input. */
type Measured = Timings & Record<string, number | [number, number]>;

// The fields of one pass in the bench modules' rows (bench/timing.js passFields).
const PASS_FIELDS = ['ms', 'range_ms', 'gflops', 'useful_gflops', 'peak_pct', 'useful_peak_pct'];
/** A spread max/min above this makes the command warn that the machine looked busy. */
const WIDE_SPREAD = 1.3;

/** One measured case: lkvit's medians, PyTorch's (its faster memory layout) when it ran, and the ratios. */
export interface BenchRow {
  case: Record<string, unknown>;
  lkvit: Measured;
  torch?: Timings & { layout: string };
  /** PyTorch time / lkvit time: above 1, lkvit is faster. */
  speedup?: { fwd: number; fwd_bwd: number };
}

const FLAGS: Record<string, FlagSpec> = {
  kernels: { type: 'string', help: 'dwconv: kernel sizes, comma-separated', default: '3,7,13,31,51' },
  shape: {
    type: 'string',
    help: 'dwconv: N,C,H,W of the input; attention: B,HEADS,TOKENS,HEADDIM',
    default: 'dwconv 1,128,56,56; attention 1,12,197,64',
  },
  batch: { type: 'string', help: 'model: images per forward pass', default: '1' },
  'image-size': { type: 'string', help: 'model: input side in pixels', default: '224' },
  config: {
    type: 'string',
    help: 'model: architecture overrides as JSON, e.g. \'{"kernelSizes":[13,13,13,13]}\'',
    default: '{}',
  },
  reparam: {
    type: 'boolean',
    help: 'model: RepLKNet structural re-parameterisation first (inference form)',
    default: 'off',
  },
  threads: { type: 'string', help: 'CPU threads of lkvit and PyTorch', default: "lkvit's default (all cores)" },
  reps: {
    type: 'string',
    help: 'timed runs per case (the median is reported, with the min-max spread)',
    default: 'dwconv and attention 9, model 3',
  },
  'no-torch': {
    type: 'boolean',
    help: 'skip the PyTorch column even when a python with torch is found',
    default: 'off',
  },
  'refresh-peak': {
    type: 'boolean',
    help: "measure the machine's FMA peak and bandwidth again instead of reading the cache (LKVIT_CACHE_DIR)",
    default: 'off',
  },
  ...COMMON_FLAGS,
};
const SYNOPSIS =
  'dwconv|attention|model NAME [options]\n\n' +
  'Times forward and forward + input gradient (an attack step) in lkvit and, when a python with torch is found\n' +
  '(LKVIT_PYTHON first, then python3, python), in PyTorch on the same shapes; medians in ms after a warm-up,\n' +
  "their min-max spread, GFLOP/s and % of this machine's measured FP32 FMA peak (useful: taps that meet the input).\n" +
  'e.g. lkvit bench dwconv --kernels 3,7,13,31,51 --shape 1,128,56,56 --json';

const SUBCOMMAND_FLAGS: Record<string, string[]> = {
  dwconv: ['kernels', 'shape'],
  attention: ['shape'],
  model: ['batch', 'image-size', 'config', 'reparam'],
};

function intList(f: Flags, name: string, fallback: string, command: string, length?: number): number[] {
  const text = f[name] === undefined ? fallback : String(f[name]);
  const values = text.split(',').map((v) => Number(v.trim()));
  if (values.some((v) => !Number.isInteger(v) || v < 1) || (length !== undefined && values.length !== length))
    throw new UsageError(
      `${command}: --${name} must be ${length ?? 'one or more'} comma-separated positive integers, got '${text}'`,
    );
  return values;
}

export async function benchCommand(argv: string[], print: (s: string) => void): Promise<void> {
  const cmd = 'bench';
  const [what, ...rest] = argv;
  if (what === undefined || what === '--help' || what === 'help') return print(usage(cmd, SYNOPSIS, FLAGS));
  if (!(what in SUBCOMMAND_FLAGS))
    throw new UsageError(`${cmd}: unknown benchmark '${what}' (expected dwconv, attention or model NAME)`);
  let modelName: string | undefined;
  if (what === 'model') {
    if (rest[0] === undefined || rest[0].startsWith('--')) {
      if (rest.includes('--help')) return print(usage(cmd, SYNOPSIS, FLAGS));
      throw new UsageError(`${cmd}: 'bench model' needs a model name, e.g. 'lkvit bench model replknet31b'`);
    }
    modelName = rest.shift();
  }
  const f = parseFlags(rest, FLAGS, cmd);
  if (f.help) return print(usage(cmd, SYNOPSIS, FLAGS));
  const misplaced = Object.keys(f).filter(
    (n) => Object.values(SUBCOMMAND_FLAGS).some((l) => l.includes(n)) && !SUBCOMMAND_FLAGS[what].includes(n),
  );
  if (misplaced.length) throw new UsageError(`${cmd}: --${misplaced[0]} does not apply to 'bench ${what}'`);
  const threads = intFlag(f, 'threads', cmd) ?? getNumThreads();
  const reps = intFlag(f, 'reps', cmd) ?? (what === 'model' ? 3 : 9);
  const out = commandOutput(f, print);

  // Validate every flag before starting PyTorch (seconds) or timing anything.
  const run =
    what === 'dwconv'
      ? dwconvCases(f, reps, threads)
      : what === 'attention'
        ? attentionCases(f, reps, threads)
        : modelCases(f, String(modelName), reps, threads);
  // The yardstick before anything else runs (the bench modules then find it at the same threads).
  const machine = machinePeak({ threads, refresh: Boolean(f['refresh-peak']) });

  const { findTorchPython, startPeer } = benchModule('peer.js');
  const python: string | null = f['no-torch'] ? null : findTorchPython();
  const peer: TorchPeer | null = python ? await startPeer(threads, python) : null;
  const torchNote = peer
    ? `PyTorch ${peer.version} (${python}, BLAS ${peer.blas})`
    : f['no-torch']
      ? 'PyTorch column omitted (--no-torch)'
      : 'PyTorch column omitted: no python with torch found (set LKVIT_PYTHON)';
  let rows: BenchRow[];
  try {
    rows = await run(peer, out);
  } finally {
    peer?.close();
  }
  const title = `bench ${what}${modelName ? ` ${modelName}` : ''}: ${threads} thread(s), median of ${reps} runs in ms; ${torchNote}`;
  out.say(title);
  out.say(`machine: ${machineLine(machine)}`);
  for (const line of table(rows, Boolean(peer))) out.say(line);
  const warnings = benchWarnings(rows, machine);
  for (const w of warnings) out.say(`warning: ${w}`);
  out.result({
    benchmark: what,
    ...(modelName && { model: modelName }),
    threads,
    reps,
    machine,
    torch: peer ? { version: peer.version, python, blas: peer.blas } : null,
    note: torchNote,
    rows,
    warnings,
  });
}

/** lkvit's fields of pass `from` in a bench module's row, renamed to pass `to`. */
function passOf(row: Record<string, any>, from: string, to: string): Record<string, number | [number, number]> {
  const out: Record<string, number | [number, number]> = {};
  for (const f of PASS_FIELDS) if (row[`${from}_${f}`] !== undefined) out[`${to}_${f}`] = row[`${from}_${f}`];
  return out;
}

/** A wide spread (the machine was busy) and a rate above the measured peak (the peak was measured while busy). */
export function benchWarnings(rows: BenchRow[], machine: MachinePeak): string[] {
  const warnings: string[] = [];
  let widest = { ratio: 1, where: '' };
  let fastest = 0;
  for (const r of rows)
    for (const p of ['fwd', 'fwd_bwd']) {
      const [min, max] = r.lkvit[`${p}_range_ms`] as [number, number];
      if (min > 0 && max / min > widest.ratio)
        widest = { ratio: max / min, where: `${caseLabel(r.case)}, ${p === 'fwd' ? 'fwd' : 'fwd+grad'}` };
      fastest = Math.max(fastest, Number(r.lkvit[`${p}_gflops`] ?? 0));
    }
  if (widest.ratio > WIDE_SPREAD)
    warnings.push(
      `the timings spread widely (max/min ${widest.ratio.toFixed(2)} at ${widest.where}): the machine looked busy; don't draw conclusions from these numbers`,
    );
  if (fastest > 1.05 * machine.fmaGflops)
    warnings.push(
      `a row ran at ${fastest.toFixed(0)} GFLOP/s, above the measured peak of ${machine.fmaGflops.toFixed(0)}: the peak was measured while the machine was busy; rerun with --refresh-peak on an idle machine`,
    );
  return warnings;
}

type CaseRunner = (peer: TorchPeer | null, out: CommandOutput) => Promise<BenchRow[]>;

/** The faster PyTorch layout of an answer shaped { nchw: {...}, channels_last: {...} }. */
function fasterLayout(answer: Record<string, any>, fwdKey: string, fwdBwdKey: string): Timings & { layout: string } {
  if (answer.error) throw new Error(`bench: PyTorch failed: ${answer.error}`);
  const layouts = Object.keys(answer).filter((k) => answer[k] && typeof answer[k] === 'object');
  const best = layouts.reduce((a, b) => (answer[b][fwdKey] < answer[a][fwdKey] ? b : a));
  return {
    layout: best,
    fwd_ms: answer[best][fwdKey],
    fwd_bwd_ms: Math.min(...layouts.map((l) => answer[l][fwdBwdKey])),
  };
}

function withRatio(row: BenchRow): BenchRow {
  if (row.torch)
    row.speedup = { fwd: row.torch.fwd_ms / row.lkvit.fwd_ms, fwd_bwd: row.torch.fwd_bwd_ms / row.lkvit.fwd_bwd_ms };
  return row;
}

function dwconvCases(f: Flags, reps: number, threads: number): CaseRunner {
  const kernels = intList(f, 'kernels', '3,7,13,31,51', 'bench');
  const [N, C, H, W] = intList(f, 'shape', '1,128,56,56', 'bench', 4);
  if (kernels.some((k) => k % 2 === 0))
    throw new UsageError(`bench: --kernels must be odd (padding K//2 keeps the size), got '${kernels.join(',')}'`);
  const { benchDwconv } = benchModule('dwconv.js');
  return async (peer, out) => {
    const bar = out.progress('dwconv', kernels.length);
    const rows: BenchRow[] = [];
    for (const K of kernels) {
      const [mine] = await benchDwconv({ kernels: [K], shapes: [`${N}x${C}x${H}x${W}`], reps, threads });
      const theirs = peer
        ? fasterLayout(
            await peer.ask({ op: 'dwconv', N, C, H, W, K, reps, slow_bwd: K >= 15 }),
            'fwd_ms',
            'fwd_bwd_input_ms',
          )
        : undefined;
      const lkvit = { ...passOf(mine, 'fwd', 'fwd'), ...passOf(mine, 'fwd_bwd_input', 'fwd_bwd') } as Measured;
      rows.push(withRatio({ case: { kernel: K, shape: [N, C, H, W] }, lkvit, ...(theirs && { torch: theirs }) }));
      bar.update(rows.length);
    }
    bar.finish();
    return rows;
  };
}

function attentionCases(f: Flags, reps: number, threads: number): CaseRunner {
  const [B, H, T, d] = intList(f, 'shape', '1,12,197,64', 'bench', 4);
  const { benchAttention } = benchModule('attention.js');
  return async (peer) => {
    const [mine] = await benchAttention({ reps, threads, shapes: [{ name: 'attention', B, H, T, d }] });
    const theirs = peer ? await peer.ask({ op: 'attention', B, H, T, d, reps }) : undefined;
    if (theirs?.error) throw new Error(`bench: PyTorch failed: ${theirs.error}`);
    const lkvit = { ...passOf(mine, 'fwd', 'fwd'), ...passOf(mine, 'fwd_bwd', 'fwd_bwd') } as Measured;
    return [
      withRatio({
        case: { shape: [B, H, T, d] },
        lkvit,
        ...(theirs && { torch: { layout: 'contiguous', fwd_ms: theirs.fwd_ms, fwd_bwd_ms: theirs.fwd_bwd_ms } }),
      }),
    ];
  };
}

function modelCases(f: Flags, name: string, reps: number, threads: number): CaseRunner {
  modelNameFlag({ model: name }, 'model', 'bench');
  const batch = intFlag(f, 'batch', 'bench') ?? 1;
  const size = intFlag(f, 'image-size', 'bench') ?? 224;
  const overrides = configKeys(configFlag(f.config as string | undefined, 'bench'), name, 'bench');
  // A ViT's position embedding is sized for its input: the image size is part of its architecture.
  if (MODELS[name].family === 'vit' && overrides.imageSize === undefined) overrides.imageSize = size;
  const { timeModel } = benchModule('models.js');
  return async (peer, out) => {
    const previous = getNumThreads();
    setNumThreads(threads);
    const bar = out.progress(name, 1);
    let mine: Measured;
    try {
      manualSeed(1);
      const model = createModel(name, overrides);
      if (f.reparam) {
        if (!(model instanceof RepLKNet))
          throw new UsageError(`bench: --reparam applies to RepLKNet models, not ${name}`);
        model.reparam();
      }
      mine = timeModel(model, batch, reps, size);
    } finally {
      setNumThreads(previous);
    }
    bar.finish();
    const layouts = MODELS[name].family === 'vit' ? ['nchw'] : ['nchw', 'channels_last'];
    let theirs: (Timings & { layout: string }) | undefined;
    if (peer) {
      const answers: Record<string, any> = {};
      for (const layout of layouts)
        answers[layout] = await peer.ask({
          op: 'model',
          name,
          form: f.reparam ? 'reparam' : 'train-form',
          N: batch,
          layout,
          reps,
          size,
          overrides,
        });
      const failed = Object.values(answers).find((a) => a.error);
      if (failed) throw new Error(`bench: PyTorch failed: ${failed.error}`);
      theirs = fasterLayout(answers, 'fwd_ms', 'fwd_bwd_ms');
    }
    return [
      withRatio({
        case: { model: name, batch, imageSize: size, ...(f.reparam && { reparam: true }), config: overrides },
        lkvit: mine,
        ...(theirs && { torch: theirs }),
      }),
    ];
  };
}

const caseLabel = (c: Record<string, unknown>) =>
  Object.entries(c)
    .filter(([k]) => k !== 'config')
    .map(([k, v]) => `${k} ${Array.isArray(v) ? v.join('x') : String(v)}`)
    .join(', ');

/** Per pass: median, spread, GFLOP/s and % of peak; the useful-tap columns where some row's count differs. */
function table(rows: BenchRow[], withTorch: boolean): string[] {
  const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(2) : v.toFixed(3));
  const num = (v: unknown) => (typeof v === 'number' ? (v >= 10 ? v.toFixed(0) : v.toFixed(1)) : '');
  const passes: [string, string][] = [
    ['fwd', 'fwd'],
    ['fwd_bwd', 'fwd+grad'],
  ];
  const useful = rows.some((r) =>
    passes.some(
      ([p]) =>
        Math.abs(Number(r.lkvit[`${p}_useful_gflops`]) - Number(r.lkvit[`${p}_gflops`])) >
        1e-9 * Number(r.lkvit[`${p}_gflops`]),
    ),
  );
  const header = ['case'];
  for (const [, name] of passes)
    header.push(`${name} ms`, 'min-max', 'GFLOP/s', '% peak', ...(useful ? ['useful GFLOP/s', 'useful % peak'] : []));
  if (withTorch) header.push('torch fwd ms', 'torch fwd+grad ms', 'speed-up fwd', 'speed-up fwd+grad');
  const body = rows.map((r) => {
    const cells = [caseLabel(r.case)];
    for (const [p] of passes) {
      const [min, max] = r.lkvit[`${p}_range_ms`] as [number, number];
      cells.push(
        ms(r.lkvit[`${p}_ms`] as number),
        `${ms(min)}-${ms(max)}`,
        num(r.lkvit[`${p}_gflops`]),
        num(r.lkvit[`${p}_peak_pct`]),
      );
      if (useful) cells.push(num(r.lkvit[`${p}_useful_gflops`]), num(r.lkvit[`${p}_useful_peak_pct`]));
    }
    if (withTorch && r.torch && r.speedup)
      cells.push(
        ms(r.torch.fwd_ms),
        ms(r.torch.fwd_bwd_ms),
        `${r.speedup.fwd.toFixed(2)}x`,
        `${r.speedup.fwd_bwd.toFixed(2)}x`,
      );
    return cells;
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), ...body.map(line)];
}
