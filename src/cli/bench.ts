// lkvit bench: the kernel-size microbenchmark for users of the installed package. The timing and
// the PyTorch peer are the repository's bench/ modules (one timing rule for `npm run bench` and
// this command); this file parses, runs the cases and prints the table or the JSON.
import * as path from 'path';
import { FlagSpec, Flags, parseFlags, usage, intFlag, commandOutput, COMMON_FLAGS, UsageError, CommandOutput } from './args';
import { configFlag, configKeys, modelNameFlag } from './model_flags';
import { createModel, MODELS } from '../models/registry';
import { RepLKNet } from '../models/replknet';
import { manualSeed } from '../nn';
import { getNumThreads, setNumThreads } from '../index';

// bench/ ships with the package next to lib/.
const BENCH_DIR = path.join(__dirname, '..', '..', 'bench');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const benchModule = (name: string) => require(path.join(BENCH_DIR, name));

interface TorchPeer { version: string; blas: string; ask(req: Record<string, unknown>): Promise<Record<string, any>>; close(): void }
type Timings = { fwd_ms: number; fwd_bwd_ms: number };

/** One measured case: lkvit's medians, PyTorch's (its faster memory layout) when it ran, and the ratios. */
export interface BenchRow {
  case: Record<string, unknown>;
  lkvit: Timings;
  torch?: Timings & { layout: string };
  /** PyTorch time / lkvit time: above 1, lkvit is faster. */
  speedup?: { fwd: number; fwd_bwd: number };
}

const FLAGS: Record<string, FlagSpec> = {
  kernels: { type: 'string', help: 'dwconv: kernel sizes, comma-separated', default: '3,7,13,31,51' },
  shape: { type: 'string', help: 'dwconv: N,C,H,W of the input; attention: B,HEADS,TOKENS,HEADDIM', default: 'dwconv 1,128,56,56; attention 1,12,197,64' },
  batch: { type: 'string', help: 'model: images per forward pass', default: '1' },
  'image-size': { type: 'string', help: 'model: input side in pixels', default: '224' },
  config: { type: 'string', help: 'model: architecture overrides as JSON, e.g. \'{"kernelSizes":[13,13,13,13]}\'', default: '{}' },
  reparam: { type: 'boolean', help: 'model: RepLKNet structural re-parameterisation first (inference form)', default: 'off' },
  threads: { type: 'string', help: 'CPU threads of lkvit and PyTorch', default: "lkvit's default (all cores)" },
  reps: { type: 'string', help: 'timed runs per case (the median is reported)', default: 'dwconv and attention 9, model 3' },
  'no-torch': { type: 'boolean', help: 'skip the PyTorch column even when a python with torch is found', default: 'off' },
  ...COMMON_FLAGS,
};
const SYNOPSIS = 'dwconv|attention|model NAME [options]\n\n' +
  'Times forward and forward + input gradient (an attack step) in lkvit and, when a python with torch is found\n' +
  "(LKVIT_PYTHON first, then python3, python), in PyTorch on the same shapes; medians in ms after a warm-up.\n" +
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
    throw new UsageError(`${command}: --${name} must be ${length ?? 'one or more'} comma-separated positive integers, got '${text}'`);
  return values;
}

export async function benchCommand(argv: string[], print: (s: string) => void): Promise<void> {
  const cmd = 'bench';
  const [what, ...rest] = argv;
  if (what === undefined || what === '--help' || what === 'help') return print(usage(cmd, SYNOPSIS, FLAGS));
  if (!(what in SUBCOMMAND_FLAGS)) throw new UsageError(`${cmd}: unknown benchmark '${what}' (expected dwconv, attention or model NAME)`);
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
  const misplaced = Object.keys(f).filter((n) => Object.values(SUBCOMMAND_FLAGS).some((l) => l.includes(n)) && !SUBCOMMAND_FLAGS[what].includes(n));
  if (misplaced.length) throw new UsageError(`${cmd}: --${misplaced[0]} does not apply to 'bench ${what}'`);
  const threads = intFlag(f, 'threads', cmd) ?? getNumThreads();
  const reps = intFlag(f, 'reps', cmd) ?? (what === 'model' ? 3 : 9);
  const out = commandOutput(f, print);

  // Validate every flag before starting PyTorch (seconds) or timing anything.
  const run = what === 'dwconv' ? dwconvCases(f, reps, threads)
    : what === 'attention' ? attentionCases(f, reps, threads)
      : modelCases(f, String(modelName), reps, threads);

  const { findTorchPython, startPeer } = benchModule('peer.js');
  const python: string | null = f['no-torch'] ? null : findTorchPython();
  const peer: TorchPeer | null = python ? await startPeer(threads, python) : null;
  const torchNote = peer ? `PyTorch ${peer.version} (${python}, BLAS ${peer.blas})`
    : f['no-torch'] ? 'PyTorch column omitted (--no-torch)' : 'PyTorch column omitted: no python with torch found (set LKVIT_PYTHON)';
  let rows: BenchRow[];
  try {
    rows = await run(peer, out);
  } finally {
    peer?.close();
  }
  const title = `bench ${what}${modelName ? ` ${modelName}` : ''}: ${threads} thread(s), median of ${reps} runs in ms; ${torchNote}`;
  out.say(title);
  for (const line of table(rows, Boolean(peer))) out.say(line);
  out.result({ benchmark: what, ...(modelName && { model: modelName }), threads, reps, torch: peer ? { version: peer.version, python, blas: peer.blas } : null, note: torchNote, rows });
}

type CaseRunner = (peer: TorchPeer | null, out: CommandOutput) => Promise<BenchRow[]>;

/** The faster PyTorch layout of an answer shaped { nchw: {...}, channels_last: {...} }. */
function fasterLayout(answer: Record<string, any>, fwdKey: string, fwdBwdKey: string): Timings & { layout: string } {
  if (answer.error) throw new Error(`bench: PyTorch failed: ${answer.error}`);
  const layouts = Object.keys(answer).filter((k) => answer[k] && typeof answer[k] === 'object');
  const best = layouts.reduce((a, b) => (answer[b][fwdKey] < answer[a][fwdKey] ? b : a));
  return { layout: best, fwd_ms: answer[best][fwdKey], fwd_bwd_ms: Math.min(...layouts.map((l) => answer[l][fwdBwdKey])) };
}

function withRatio(row: BenchRow): BenchRow {
  if (row.torch) row.speedup = { fwd: row.torch.fwd_ms / row.lkvit.fwd_ms, fwd_bwd: row.torch.fwd_bwd_ms / row.lkvit.fwd_bwd_ms };
  return row;
}

function dwconvCases(f: Flags, reps: number, threads: number): CaseRunner {
  const kernels = intList(f, 'kernels', '3,7,13,31,51', 'bench');
  const [N, C, H, W] = intList(f, 'shape', '1,128,56,56', 'bench', 4);
  if (kernels.some((k) => k % 2 === 0)) throw new UsageError(`bench: --kernels must be odd (padding K//2 keeps the size), got '${kernels.join(',')}'`);
  const { benchDwconv } = benchModule('dwconv.js');
  return async (peer, out) => {
    const bar = out.progress('dwconv', kernels.length);
    const rows: BenchRow[] = [];
    for (const K of kernels) {
      const [mine] = await benchDwconv({ kernels: [K], shapes: [`${N}x${C}x${H}x${W}`], reps, threads });
      const theirs = peer ? fasterLayout(await peer.ask({ op: 'dwconv', N, C, H, W, K, reps, slow_bwd: K >= 15 }), 'fwd_ms', 'fwd_bwd_input_ms') : undefined;
      rows.push(withRatio({ case: { kernel: K, shape: [N, C, H, W] }, lkvit: { fwd_ms: mine.fwd_ms, fwd_bwd_ms: mine.fwd_bwd_input_ms }, ...(theirs && { torch: theirs }) }));
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
    return [withRatio({ case: { shape: [B, H, T, d] }, lkvit: { fwd_ms: mine.fwd_ms, fwd_bwd_ms: mine.fwd_bwd_ms },
      ...(theirs && { torch: { layout: 'contiguous', fwd_ms: theirs.fwd_ms, fwd_bwd_ms: theirs.fwd_bwd_ms } }) })];
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
    let mine: Timings;
    try {
      manualSeed(1);
      const model = createModel(name, overrides);
      if (f.reparam) {
        if (!(model instanceof RepLKNet)) throw new UsageError(`bench: --reparam applies to RepLKNet models, not ${name}`);
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
        answers[layout] = await peer.ask({ op: 'model', name, form: f.reparam ? 'reparam' : 'train-form', N: batch, layout, reps, size, overrides });
      const failed = Object.values(answers).find((a) => a.error);
      if (failed) throw new Error(`bench: PyTorch failed: ${failed.error}`);
      theirs = fasterLayout(answers, 'fwd_ms', 'fwd_bwd_ms');
    }
    return [withRatio({ case: { model: name, batch, imageSize: size, ...(f.reparam && { reparam: true }), config: overrides }, lkvit: mine, ...(theirs && { torch: theirs }) })];
  };
}

function table(rows: BenchRow[], withTorch: boolean): string[] {
  const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(2) : v.toFixed(3));
  const label = (c: Record<string, unknown>) => Object.entries(c).filter(([k]) => k !== 'config')
    .map(([k, v]) => `${k} ${Array.isArray(v) ? v.join('x') : String(v)}`).join(', ');
  const header = ['case', 'fwd ms', 'fwd+grad ms', ...(withTorch ? ['torch fwd ms', 'torch fwd+grad ms', 'speed-up fwd', 'speed-up fwd+grad'] : [])];
  const body = rows.map((r) => [label(r.case), ms(r.lkvit.fwd_ms), ms(r.lkvit.fwd_bwd_ms),
    ...(withTorch && r.torch && r.speedup ? [ms(r.torch.fwd_ms), ms(r.torch.fwd_bwd_ms), `${r.speedup.fwd.toFixed(2)}x`, `${r.speedup.fwd_bwd.toFixed(2)}x`] : [])]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), ...body.map(line)];
}
