// Vision Transformer as timm's VisionTransformer (class token, learned position embedding,
// pre-norm blocks, exact GELU, LayerNorm eps 1e-6), with timm's parameter names.
import { Tensor } from '../tensor/tensor';
import * as ops from '../tensor/ops';
import {
  Module,
  Conv2d,
  Linear,
  LayerNorm,
  Mlp,
  ModuleList,
  uniformParameter,
  DropPath,
  dropPathRates,
  bicubicResize,
} from '../nn';
import type { LoadReport, StateDictLike, StateEntry } from '../nn';
import { ImageClassifier, ForwardContext, Triple } from './classifier';

export interface ViTConfig {
  imageSize: number;
  patchSize: number;
  embedDim: number;
  depth: number;
  numHeads: number;
  mlpRatio: number;
  numClasses: number;
  /** Stochastic depth: per-block rates rise linearly from 0 to this (default 0), as in timm. */
  dropPathRate?: number;
}

const LN_EPS = 1e-6;

class Attention extends Module {
  readonly qkv: Linear;
  readonly proj: Linear;

  constructor(
    readonly dim: number,
    readonly numHeads: number,
  ) {
    super();
    this.qkv = this.child('qkv', new Linear(dim, 3 * dim));
    this.proj = this.child('proj', new Linear(dim, dim));
  }

  /** x [N, T, D] -> [N, T, D]; with `probs` also the attention maps [N, heads, T, T]. */
  forward(x: Tensor, wantProbs: boolean): { out: Tensor; probs: Tensor | null } {
    const [N, T, D] = x.shape;
    const H = this.numHeads,
      d = D / H;
    // [N, T, 3, H, d] -> [3, N, H, T, d], then q, k, v as slices of the first dim.
    const qkv = ops.permute(ops.reshape(this.qkv.forward(x), [N, T, 3, H, d]), [2, 0, 3, 1, 4]);
    const [q, k, v] = [0, 1, 2].map((i) => ops.reshape(ops.slice(qkv, 0, i, i + 1), [N, H, T, d]));
    let out: Tensor,
      probs: Tensor | null = null;
    if (wantProbs) ({ out, probs } = ops.attention(q, k, v, { returnProbs: true }));
    else out = ops.attention(q, k, v);
    const merged = ops.reshape(ops.permute(out, [0, 2, 1, 3]), [N, T, D]);
    return { out: this.proj.forward(merged), probs };
  }
}

class Block extends Module {
  readonly norm1: LayerNorm;
  readonly attn: Attention;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;
  readonly dropPath: DropPath;

  constructor(dim: number, numHeads: number, mlpRatio: number, dropPath: number) {
    super();
    this.norm1 = this.child('norm1', new LayerNorm(dim, LN_EPS));
    this.attn = this.child('attn', new Attention(dim, numHeads));
    this.norm2 = this.child('norm2', new LayerNorm(dim, LN_EPS));
    this.mlp = this.child('mlp', new Mlp(dim, Math.trunc(dim * mlpRatio)));
    this.dropPath = this.child('drop_path', new DropPath(dropPath));
  }

  forward(x: Tensor, wantProbs: boolean): { out: Tensor; probs: Tensor | null } {
    const a = this.attn.forward(this.norm1.forward(x), wantProbs);
    const y = ops.add(x, this.dropPath.forward(a.out));
    return { out: ops.add(y, this.dropPath.forward(this.mlp.forward(this.norm2.forward(y)))), probs: a.probs };
  }
}

class PatchEmbed extends Module {
  readonly proj: Conv2d;

  constructor(patchSize: number, dim: number) {
    super();
    this.proj = this.child('proj', new Conv2d(3, dim, patchSize, { stride: patchSize }));
  }
}

export class VisionTransformer extends ImageClassifier {
  readonly config: ViTConfig;
  readonly clsToken: Tensor;
  readonly posEmbed: Tensor;
  readonly patchEmbed: PatchEmbed;
  readonly blocks: Block[];
  readonly norm: LayerNorm;
  readonly head: Linear;

  constructor(config: ViTConfig, mean: Triple, std: Triple) {
    super(config.numClasses, mean, std, config.imageSize);
    this.config = checkConfig(config);
    const { embedDim: D, imageSize, patchSize } = config;
    const tokens = (imageSize / patchSize) ** 2 + 1;
    // timm initialises both with a truncated normal of std 0.02; a uniform of the same spread does for training from scratch.
    this.clsToken = this.param('cls_token', uniformParameter([1, 1, D], 0.02 * Math.sqrt(3)));
    this.posEmbed = this.param('pos_embed', uniformParameter([1, tokens, D], 0.02 * Math.sqrt(3)));
    this.patchEmbed = this.child('patch_embed', new PatchEmbed(patchSize, D));
    const list = this.child('blocks', new ModuleList<Block>());
    this.blocks = [];
    const rates = dropPathRates(config.dropPathRate ?? 0, config.depth);
    for (let i = 0; i < config.depth; i++)
      this.blocks.push(list.add(new Block(D, config.numHeads, config.mlpRatio, rates[i])));
    this.norm = this.child('norm', new LayerNorm(D, LN_EPS));
    this.head = this.child('head', new Linear(D, config.numClasses));
  }

  /** As Module's, but a square pos_embed grid of another size (a checkpoint trained at another
   * image size) is first resampled bicubically to this model's grid, as timm does. */
  override loadStateDict(state: StateDictLike, options: { strict?: boolean } = {}): LoadReport {
    const entries = state instanceof Map ? state : new Map(Object.entries(state));
    const pos = entries.get('pos_embed');
    const side = this.config.imageSize / this.config.patchSize;
    if (
      pos &&
      pos.shape.length === 3 &&
      pos.shape[2] === this.config.embedDim &&
      pos.shape[1] !== this.posEmbed.shape[1]
    ) {
      const old = Math.round(Math.sqrt(pos.shape[1] - 1));
      if (old * old === pos.shape[1] - 1)
        return super.loadStateDict(
          new Map(entries).set('pos_embed', resamplePosEmbed(pos, [old, old], [side, side])),
          options,
        );
    }
    return super.loadStateDict(entries, options);
  }

  blockNames(): string[] {
    return this.blocks.map((_, i) => `blocks.${i}`);
  }

  protected forwardNormalized(x: Tensor, ctx: ForwardContext): Tensor {
    const N = x.shape[0],
      D = this.config.embedDim;
    const p = this.patchEmbed.proj.forward(x); // [N, D, h, w]
    const patches = ops.transpose(ops.reshape(p, [N, D, p.shape[2] * p.shape[3]]), 1, 2); // [N, T-1, D]
    const cls = ops.cat(
      Array.from({ length: N }, () => this.clsToken),
      0,
    ); // [N, 1, D]
    let y = ops.add(ops.cat([cls, patches], 1), this.posEmbed);
    this.blocks.forEach((blk, i) => {
      y = ctx.block(`blocks.${i}`, y, (v) => {
        const r = blk.forward(v, ctx.wantsAttention(i));
        if (r.probs) ctx.attention.set(i, r.probs);
        return r.out;
      });
    });
    const t = this.norm.forward(y);
    const first = ops.reshape(ops.slice(t, 1, 0, 1), [N, D]);
    return this.head.forward(first);
  }
}

/**
 * timm's resample_abs_pos_embed: the grid part of pos_embed [1, 1 + gh*gw, D] as [D, gh, gw],
 * resized bicubically (PyTorch's align_corners=False) to newGrid; the class token is kept.
 */
export function resamplePosEmbed(
  pos: StateEntry,
  oldGrid: readonly [number, number],
  newGrid: readonly [number, number],
): StateEntry {
  const [gh, gw] = oldGrid,
    [nh, nw] = newGrid;
  if (pos.shape.length !== 3 || pos.shape[0] !== 1 || pos.shape[1] !== 1 + gh * gw)
    throw new RangeError(`resamplePosEmbed: pos_embed must be [1, 1 + ${gh}*${gw}, D], got [${pos.shape.join(', ')}]`);
  const D = pos.shape[2],
    T = gh * gw;
  const planes = new Float32Array(D * T); // [T, D] -> [D, T]
  for (let t = 0; t < T; t++) for (let d = 0; d < D; d++) planes[d * T + t] = pos.data[(1 + t) * D + d];
  const resized = bicubicResize(planes, [D, gh, gw], [nh, nw]),
    U = nh * nw;
  const data = new Float32Array((1 + U) * D);
  data.set(pos.data.subarray(0, D));
  for (let t = 0; t < U; t++) for (let d = 0; d < D; d++) data[(1 + t) * D + d] = resized[d * U + t];
  return { shape: [1, 1 + U, D], data };
}

function checkConfig(c: ViTConfig): ViTConfig {
  const pos = (name: string, v: number) => {
    if (!Number.isInteger(v) || v < 1)
      throw new RangeError(`VisionTransformer: ${name} must be a positive integer, got ${String(v)}`);
  };
  (['imageSize', 'patchSize', 'embedDim', 'depth', 'numHeads', 'numClasses'] as const).forEach((k) => pos(k, c[k]));
  if (c.imageSize % c.patchSize)
    throw new RangeError(`VisionTransformer: imageSize ${c.imageSize} must be a multiple of patchSize ${c.patchSize}`);
  if (c.embedDim % c.numHeads)
    throw new RangeError(`VisionTransformer: embedDim ${c.embedDim} must be a multiple of numHeads ${c.numHeads}`);
  if (!(c.mlpRatio > 0)) throw new RangeError(`VisionTransformer: mlpRatio must be positive, got ${c.mlpRatio}`);
  if (
    c.dropPathRate !== undefined &&
    !(typeof c.dropPathRate === 'number' && c.dropPathRate >= 0 && c.dropPathRate < 1)
  )
    throw new RangeError(`VisionTransformer: dropPathRate must be a number in [0, 1), got ${String(c.dropPathRate)}`);
  return c;
}
