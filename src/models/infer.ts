// Which registered model and options a state dict fits, read from its keys and shapes: the hint a
// weights/architecture mismatch gives ("these weights look like --model X --config '{...}'").
import type { StateEntry } from '../nn';
import type { LoadReport } from '../nn';

type State = ReadonlyMap<string, StateEntry>;
type Config = Record<string, unknown>;

// The block indices under `prefix` (e.g. 'layer1.' -> 0, 1, 2 for layer1.0.*, layer1.1.*, layer1.2.*).
function indices(state: State, prefix: string): number[] {
  const found = new Set<number>();
  for (const key of state.keys()) {
    if (!key.startsWith(prefix)) continue;
    const m = /^(\d+)\./.exec(key.slice(prefix.length));
    if (m) found.add(Number(m[1]));
  }
  return [...found].sort((a, b) => a - b);
}

const dim = (state: State, key: string, d: number): number | undefined => state.get(key)?.shape[d];
const defined = (values: (number | undefined)[]): values is number[] => values.every((v) => v !== undefined);

/** The family and the architecture options a state dict was saved from, as far as its shapes tell. */
export function inferArchitecture(state: State): { family: string; config: Config } | null {
  if (state.has('cls_token') && state.has('patch_embed.proj.weight')) {
    const embedDim = dim(state, 'cls_token', 2),
      patchSize = dim(state, 'patch_embed.proj.weight', 2);
    const depth = indices(state, 'blocks.').length,
      hidden = dim(state, 'blocks.0.mlp.fc1.weight', 0);
    const tokens = dim(state, 'pos_embed', 1),
      side = tokens === undefined ? NaN : Math.sqrt(tokens - 1);
    const config: Config = { embedDim, patchSize, depth, numClasses: dim(state, 'head.weight', 0) };
    if (hidden !== undefined && embedDim) config.mlpRatio = hidden / embedDim;
    if (Number.isInteger(side) && patchSize) config.imageSize = side * patchSize;
    return { family: 'vit', config };
  }
  if (state.has('conv1.weight') && state.has('fc.weight')) {
    const stages = [1, 2, 3, 4].map((i) => indices(state, `layer${i}.`)).filter((b) => b.length > 0);
    const widths = stages.map((_, i) => dim(state, `layer${i + 1}.0.conv1.weight`, 0));
    return {
      family: 'resnet',
      config: {
        layers: stages.map((b) => b.length),
        ...(defined(widths) && { widths }),
        stemWidth: dim(state, 'conv1.weight', 0),
        numClasses: dim(state, 'fc.weight', 0),
      },
    };
  }
  const stages = indices(state, 'stages.');
  const blocks = stages.map((i) => indices(state, `stages.${i}.blocks.`));
  if (state.has('stages.0.blocks.0.conv_dw.weight')) {
    const dims = stages.map((i) => dim(state, `stages.${i}.blocks.0.conv_dw.weight`, 0));
    return {
      family: 'convnext',
      config: {
        depths: blocks.map((b) => b.length),
        ...(defined(dims) && { dims }),
        kernelSize: dim(state, 'stages.0.blocks.0.conv_dw.weight', 2),
        numClasses: dim(state, 'head.fc.weight', 0),
      },
    };
  }
  const large = (i: number, b: number) =>
    [
      `stages.${i}.blocks.${b}.large_kernel.lkb_origin.conv.weight`,
      `stages.${i}.blocks.${b}.large_kernel.lkb_reparam.weight`,
    ]
      .map((k) => state.get(k))
      .find((e) => e !== undefined);
  if (large(0, 0)) {
    const kernelSizes = stages.map((i) => large(i, 0)?.shape[2]);
    const channels = stages.map((i) => dim(state, `stages.${i}.blocks.0.pw1.conv.weight`, 1));
    const small = dim(state, 'stages.0.blocks.0.large_kernel.small_conv.conv.weight', 2);
    const config: Config = {
      layers: stages.map((i, s) => blocks[s].filter((b) => large(i, b)).length),
      numClasses: dim(state, 'head.weight', 0),
    };
    if (defined(kernelSizes)) config.kernelSizes = kernelSizes;
    if (defined(channels)) config.channels = channels;
    config.smallKernel =
      small ?? (state.has('stages.0.blocks.0.large_kernel.lkb_origin.conv.weight') ? null : undefined);
    const dw = dim(state, 'stages.0.blocks.0.pw1.conv.weight', 0),
      ffn = dim(state, 'stages.0.blocks.1.pw1.conv.weight', 0);
    if (dw !== undefined && channels[0]) config.dwRatio = dw / channels[0];
    if (ffn !== undefined && channels[0]) config.ffnRatio = ffn / channels[0];
    return { family: 'replknet', config };
  }
  if (state.has('stem.conv.weight') && state.has('stages.0.blocks.0.conv3.weight')) {
    return {
      family: 'bit',
      config: { layers: blocks.map((b) => b.length), numClasses: dim(state, 'head.fc.weight', 0) },
    };
  }
  return null;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * The registered model (of `models`: name -> family and defaults) that a state dict fits with the
 * fewest options changed, and those options (numClasses left out: loading reads it from the head).
 */
export function fittingModel(
  state: State,
  models: Record<string, { family: string; defaults: Config }>,
): { name: string; config: Config } | null {
  const arch = inferArchitecture(state);
  if (!arch) return null;
  let best: { name: string; config: Config } | null = null;
  for (const [name, spec] of Object.entries(models)) {
    if (spec.family !== arch.family) continue;
    const config: Config = {};
    for (const [k, v] of Object.entries(arch.config))
      if (v !== undefined && k !== 'numClasses' && k !== 'imageSize' && !same(v, spec.defaults[k])) config[k] = v;
    if (!best || Object.keys(config).length < Object.keys(best.config).length) best = { name, config };
  }
  return best;
}

/** At most `n` items, then '(and k more)'. */
function firstFew(items: string[], n = 3): string {
  return items.slice(0, n).join(', ') + (items.length > n ? ` (and ${items.length - n} more)` : '');
}

/** A few lines for a load that did not fit: the counts, the first keys of each kind, and their shapes. */
export function summarizeLoadReport(report: LoadReport): string[] {
  const shape = (s: readonly number[]) => `[${s.join(', ')}]`;
  const lines = [
    `${report.missing.length} missing, ${report.unexpected.length} unexpected, ${report.mismatched.length} mismatched keys`,
  ];
  if (report.missing.length) lines.push(`  missing (in the model, not the file): ${firstFew(report.missing)}`);
  if (report.unexpected.length) lines.push(`  unexpected (in the file, not the model): ${firstFew(report.unexpected)}`);
  if (report.mismatched.length)
    lines.push(
      `  mismatched: ${firstFew(report.mismatched.map((m) => `${m.key} ${shape(m.expected)} in the model, ${shape(m.got)} in the file`))}`,
    );
  return lines;
}
