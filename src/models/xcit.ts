// XCiT as timm's Xcit (timm 0.9.x xcit.py, tokens_norm=True as every xcit_* model): a conv-stack
// patch embedding, Fourier position encoding, cross-covariance attention blocks with local patch
// interaction, then class-attention blocks; timm's parameter names, so timm's and the robust
// XCiT checkpoints load as they are. LayerNorm eps 1e-6, exact GELU, BatchNorm eps 1e-5.
import { Tensor } from '../tensor/tensor';
import * as ops from '../tensor/ops';
import {
  Module,
  Conv2d,
  Linear,
  LayerNorm,
  BatchNorm2d,
  Mlp,
  ModuleList,
  Sequence,
  uniformParameter,
  DropPath,
} from '../nn';
import type { LoadReport, StateDictLike, StateEntry } from '../nn';
import { ImageClassifier, ForwardContext, Triple } from './classifier';

export interface XCiTConfig {
  /** 16: four stride-2 conv3x3-BN layers (widths D/8, D/4, D/2, D); 8: three (D/4, D/2, D). */
  patchSize: number;
  embedDim: number;
  /** XCA blocks. */
  depth: number;
  numHeads: number;
  mlpRatio: number;
  /** Class-attention blocks after the XCA blocks (2 in every published XCiT). */
  clsAttnLayers: number;
  numClasses: number;
  /** Stochastic depth of the XCA blocks: one rate for all of them, as timm's Xcit (default 0). */
  dropPathRate?: number;
}

const LN_EPS = 1e-6;
const ones = (shape: number[]) => new Tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(1), shape);

/**
 * x / max(||x||, 1e-12) along the last dim (F.normalize), from the LayerNorm op: [x, -x] has mean 0
 * and variance ||x||^2 / T, so its LayerNorm is sqrt(T) x / ||x|| (eps carries normalize's floor).
 */
export function l2NormalizeLastDim(x: Tensor): Tensor {
  const T = x.shape[x.ndim - 1];
  const both = ops.cat([x, ops.scale(x, -1)], -1);
  const normed = ops.layerNorm(both, null, null, { eps: 1e-24 / T });
  return ops.scale(ops.slice(normed, -1, 0, T), 1 / Math.sqrt(T));
}

/** Cross-covariance attention: q, k [N, heads, d, T] L2-normalised along the tokens, softmax over
 * channels with a learned temperature per head. */
class XCA extends Module {
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly temperature: Tensor;

  constructor(
    readonly dim: number,
    readonly numHeads: number,
  ) {
    super();
    this.temperature = this.param('temperature', ones([numHeads, 1, 1]));
    this.qkv = this.child('qkv', new Linear(dim, 3 * dim));
    this.proj = this.child('proj', new Linear(dim, dim));
  }

  forward(x: Tensor): Tensor {
    const [N, T, D] = x.shape;
    const H = this.numHeads,
      d = D / H;
    // [N, T, 3, H, d] -> [3, N, H, d, T]: channels as the attention's "tokens", tokens as its features.
    const qkv = ops.permute(ops.reshape(this.qkv.forward(x), [N, T, 3, H, d]), [2, 0, 3, 4, 1]);
    const [q, k, v] = [0, 1, 2].map((i) => ops.reshape(ops.slice(qkv, 0, i, i + 1), [N, H, d, T]));
    const qt = ops.mul(l2NormalizeLastDim(q), ops.reshape(this.temperature, [1, H, 1, 1]));
    const out = ops.attention(qt, l2NormalizeLastDim(k), v, { scale: 1 }); // [N, H, d, T]
    return this.proj.forward(ops.reshape(ops.permute(out, [0, 3, 1, 2]), [N, T, D]));
  }
}

/** Local patch interaction: depthwise 3x3 -> GELU -> BatchNorm -> depthwise 3x3 on the token grid. */
class LPI extends Module {
  readonly conv1: Conv2d;
  readonly bn: BatchNorm2d;
  readonly conv2: Conv2d;

  constructor(dim: number) {
    super();
    this.conv1 = this.child('conv1', new Conv2d(dim, dim, 3, { padding: 1, groups: dim }));
    this.bn = this.child('bn', new BatchNorm2d(dim));
    this.conv2 = this.child('conv2', new Conv2d(dim, dim, 3, { padding: 1, groups: dim }));
  }

  forward(x: Tensor, h: number, w: number): Tensor {
    const [N, T, D] = x.shape;
    const grid = ops.reshape(ops.transpose(x, 1, 2), [N, D, h, w]);
    const y = this.conv2.forward(this.bn.forward(ops.gelu(this.conv1.forward(grid))));
    return ops.transpose(ops.reshape(y, [N, D, T]), 1, 2);
  }
}

class XCABlock extends Module {
  readonly norm1: LayerNorm;
  readonly attn: XCA;
  readonly gamma1: Tensor;
  readonly norm3: LayerNorm;
  readonly localMp: LPI;
  readonly gamma3: Tensor;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;
  readonly gamma2: Tensor;
  readonly dropPath: DropPath;

  constructor(dim: number, numHeads: number, mlpRatio: number, dropPath: number) {
    super();
    this.norm1 = this.child('norm1', new LayerNorm(dim, LN_EPS));
    this.attn = this.child('attn', new XCA(dim, numHeads));
    this.gamma1 = this.param('gamma1', ones([dim]));
    this.norm3 = this.child('norm3', new LayerNorm(dim, LN_EPS));
    this.localMp = this.child('local_mp', new LPI(dim));
    this.gamma3 = this.param('gamma3', ones([dim]));
    this.norm2 = this.child('norm2', new LayerNorm(dim, LN_EPS));
    this.mlp = this.child('mlp', new Mlp(dim, Math.trunc(dim * mlpRatio)));
    this.gamma2 = this.param('gamma2', ones([dim]));
    this.dropPath = this.child('drop_path', new DropPath(dropPath));
  }

  forward(x: Tensor, h: number, w: number): Tensor {
    const residual = (y: Tensor, gamma: Tensor, branch: Tensor) =>
      ops.add(y, this.dropPath.forward(ops.mul(gamma, branch)));
    let y = residual(x, this.gamma1, this.attn.forward(this.norm1.forward(x)));
    y = residual(y, this.gamma3, this.localMp.forward(this.norm3.forward(y), h, w)); // 3 before 2, as the official code
    return residual(y, this.gamma2, this.mlp.forward(this.norm2.forward(y)));
  }
}

/** CaiT's class attention (separate q, k, v; only the class token queries). */
class ClassAttn extends Module {
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly proj: Linear;

  constructor(
    dim: number,
    readonly numHeads: number,
  ) {
    super();
    this.q = this.child('q', new Linear(dim, dim));
    this.k = this.child('k', new Linear(dim, dim));
    this.v = this.child('v', new Linear(dim, dim));
    this.proj = this.child('proj', new Linear(dim, dim));
  }

  /** x [N, T, D] -> the class token's update [N, 1, D]. */
  forward(x: Tensor): Tensor {
    const [N, T, D] = x.shape;
    const H = this.numHeads,
      d = D / H;
    const heads = (y: Tensor, t: number) => ops.permute(ops.reshape(y, [N, t, H, d]), [0, 2, 1, 3]);
    const q = heads(this.q.forward(ops.slice(x, 1, 0, 1)), 1);
    const out = ops.attention(q, heads(this.k.forward(x), T), heads(this.v.forward(x), T)); // [N, H, 1, d]
    return this.proj.forward(ops.reshape(ops.permute(out, [0, 2, 1, 3]), [N, 1, D]));
  }
}

/** timm's ClassAttentionBlock with tokens_norm=True. As in timm (and the official code) the patch
 * tokens get gamma1 * norm1(tokens) added and are then doubled; only the class token is read out. */
class ClassAttentionBlock extends Module {
  readonly norm1: LayerNorm;
  readonly attn: ClassAttn;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;
  readonly gamma1: Tensor;
  readonly gamma2: Tensor;

  constructor(dim: number, numHeads: number, mlpRatio: number) {
    super();
    this.norm1 = this.child('norm1', new LayerNorm(dim, LN_EPS));
    this.attn = this.child('attn', new ClassAttn(dim, numHeads));
    this.norm2 = this.child('norm2', new LayerNorm(dim, LN_EPS));
    this.mlp = this.child('mlp', new Mlp(dim, Math.trunc(dim * mlpRatio)));
    this.gamma1 = this.param('gamma1', ones([dim]));
    this.gamma2 = this.param('gamma2', ones([dim]));
  }

  forward(x: Tensor): Tensor {
    const T = x.shape[1];
    const patches = (y: Tensor) => ops.slice(y, 1, 1, T);
    const xn = this.norm1.forward(x);
    const y = this.norm2.forward(ops.add(x, ops.mul(this.gamma1, ops.cat([this.attn.forward(xn), patches(xn)], 1))));
    const cls = ops.mul(this.gamma2, this.mlp.forward(ops.slice(y, 1, 0, 1)));
    return ops.add(y, ops.cat([cls, patches(y)], 1));
  }
}

/** nn.Sequential with (conv3x3 + BN) pairs at the even indices and parameter-free GELUs between. */
class ConvStages extends Module {
  readonly stages: Sequence[];

  constructor(widths: number[]) {
    super();
    this.stages = widths.map((w, i) =>
      this.child(
        String(2 * i),
        new Sequence([
          new Conv2d(i === 0 ? 3 : widths[i - 1], w, 3, { stride: 2, padding: 1, bias: false }),
          new BatchNorm2d(w),
        ]),
      ),
    );
  }
}

/** timm's ConvPatchEmbed: keys proj.0.0 (conv), proj.0.1 (BN), proj.2.0, ... */
class ConvPatchEmbed extends Module {
  readonly proj: ConvStages;

  constructor(patchSize: number, dim: number) {
    super();
    this.proj = this.child(
      'proj',
      new ConvStages(patchSize === 16 ? [dim / 8, dim / 4, dim / 2, dim] : [dim / 4, dim / 2, dim]),
    );
  }

  /** x [N, 3, H, W] -> [N, D, H/p, W/p]. */
  forward(x: Tensor): Tensor {
    return this.proj.stages.reduce((y, stage, i) => stage.forward(i === 0 ? y : ops.gelu(y)), x);
  }
}

/** timm's PositionalEncodingFourier (hidden 32, temperature 10000): fixed sin/cos features of the
 * token's row and column, projected by a 1x1 conv. The features follow timm's float32 arithmetic. */
class PositionalEncodingFourier extends Module {
  readonly tokenProjection: Conv2d;
  private cached = new Map<string, Tensor>();

  constructor(
    dim: number,
    readonly hiddenDim = 32,
    readonly temperature = 10000,
  ) {
    super();
    this.tokenProjection = this.child('token_projection', new Conv2d(2 * hiddenDim, dim, 1));
  }

  /** [1, 2 * hidden, h, w]: the y features (sin, cos interleaved), then the x features. */
  features(h: number, w: number): Tensor {
    const key = `${h}x${w}`;
    const hit = this.cached.get(key);
    if (hit) return hit;
    const f = Math.fround,
      C = this.hiddenDim,
      twoPi = f(2 * Math.PI);
    const dimT = Array.from({ length: C }, (_, i) => f(Math.pow(this.temperature, f((2 * Math.floor(i / 2)) / C))));
    const embed = (i: number, n: number) => f(f(f(i + 1) / f(n + 1e-6)) * twoPi);
    const data = new Float32Array(2 * C * h * w);
    for (let r = 0; r < h; r++)
      for (let c = 0; c < w; c++)
        for (let j = 0; j < C; j++) {
          const trig = j % 2 === 0 ? Math.sin : Math.cos;
          data[(j * h + r) * w + c] = trig(f(embed(r, h) / dimT[j]));
          data[((C + j) * h + r) * w + c] = trig(f(embed(c, w) / dimT[j]));
        }
    const t = new Tensor(data, [1, 2 * C, h, w]);
    this.cached.set(key, t);
    return t;
  }

  /** The encoding as tokens [1, h * w, D]. */
  forward(h: number, w: number): Tensor {
    const p = this.tokenProjection.forward(this.features(h, w).to(this.device)); // cached on the CPU
    return ops.transpose(ops.reshape(p, [1, p.shape[1], h * w]), 1, 2);
  }
}

export class XCiT extends ImageClassifier {
  readonly config: XCiTConfig;
  readonly patchEmbed: ConvPatchEmbed;
  readonly clsToken: Tensor;
  readonly posEmbed: PositionalEncodingFourier;
  readonly blocks: XCABlock[] = [];
  readonly clsAttnBlocks: ClassAttentionBlock[] = [];
  readonly norm: LayerNorm;
  readonly head: Linear;

  /** Any image side works (the position encoding is computed for the token grid); the published
   * models were trained at 224. */
  constructor(config: XCiTConfig, mean: Triple, std: Triple) {
    super(config.numClasses, mean, std, null);
    this.config = checkConfig(config);
    const { embedDim: D, numHeads, mlpRatio } = config;
    this.patchEmbed = this.child('patch_embed', new ConvPatchEmbed(config.patchSize, D));
    this.clsToken = this.param('cls_token', uniformParameter([1, 1, D], 0.02 * Math.sqrt(3)));
    this.posEmbed = this.child('pos_embed', new PositionalEncodingFourier(D));
    const blocks = this.child('blocks', new ModuleList<XCABlock>());
    for (let i = 0; i < config.depth; i++)
      this.blocks.push(blocks.add(new XCABlock(D, numHeads, mlpRatio, config.dropPathRate ?? 0)));
    const cls = this.child('cls_attn_blocks', new ModuleList<ClassAttentionBlock>());
    for (let i = 0; i < config.clsAttnLayers; i++)
      this.clsAttnBlocks.push(cls.add(new ClassAttentionBlock(D, numHeads, mlpRatio)));
    this.norm = this.child('norm', new LayerNorm(D, LN_EPS));
    this.head = this.child('head', new Linear(D, config.numClasses));
  }

  /** As Module's, but the official facebookresearch/xcit layout loads too, converted as timm's
   * checkpoint_filter_fn does: `pos_embeder.*` -> `pos_embed.*`, and each class-attention block's
   * fused `attn.qkv` split into `attn.q`, `attn.k`, `attn.v`. */
  override loadStateDict(state: StateDictLike, options: { strict?: boolean } = {}): LoadReport {
    return super.loadStateDict(
      fromOfficialLayout(state instanceof Map ? state : new Map(Object.entries(state))),
      options,
    );
  }

  blockNames(): string[] {
    return [...this.blocks.map((_, i) => `blocks.${i}`), ...this.clsAttnBlocks.map((_, i) => `cls_attn_blocks.${i}`)];
  }

  protected forwardNormalized(x: Tensor, ctx: ForwardContext): Tensor {
    const N = x.shape[0],
      D = this.config.embedDim;
    const p = this.patchEmbed.forward(x); // [N, D, h, w]
    const [h, w] = [p.shape[2], p.shape[3]];
    let y = ops.add(ops.transpose(ops.reshape(p, [N, D, h * w]), 1, 2), this.posEmbed.forward(h, w));
    this.blocks.forEach((blk, i) => {
      y = ctx.block(`blocks.${i}`, y, (v) => blk.forward(v, h, w));
    });
    y = ops.cat(
      [
        ops.cat(
          Array.from({ length: N }, () => this.clsToken),
          0,
        ),
        y,
      ],
      1,
    );
    this.clsAttnBlocks.forEach((blk, i) => {
      y = ctx.block(`cls_attn_blocks.${i}`, y, (v) => blk.forward(v));
    });
    return this.head.forward(ops.reshape(ops.slice(this.norm.forward(y), 1, 0, 1), [N, D]));
  }
}

function fromOfficialLayout(state: Map<string, StateEntry>): Map<string, StateEntry> {
  const official = [...state.keys()].some(
    (k) => k.startsWith('pos_embeder.') || /^cls_attn_blocks\.\d+\.attn\.qkv\./.test(k),
  );
  if (!official) return state;
  const out = new Map<string, StateEntry>();
  for (const [key, entry] of state) {
    const qkv = /^(cls_attn_blocks\.\d+\.attn\.)qkv\.(weight|bias)$/.exec(key);
    // [3D, ...] -> three [D, ...] slices; a shape that does not split stays as is (and is reported).
    if (qkv && entry.shape.length >= 1 && entry.shape[0] % 3 === 0) {
      const part = entry.data.length / 3;
      ['q', 'k', 'v'].forEach((name, i) =>
        out.set(`${qkv[1]}${name}.${qkv[2]}`, {
          shape: [entry.shape[0] / 3, ...entry.shape.slice(1)],
          data: entry.data.subarray(i * part, (i + 1) * part),
        }),
      );
    } else out.set(key.replace(/^pos_embeder\./, 'pos_embed.'), entry);
  }
  return out;
}

function checkConfig(c: XCiTConfig): XCiTConfig {
  const pos = (name: string, v: number) => {
    if (!Number.isInteger(v) || v < 1)
      throw new RangeError(`XCiT: ${name} must be a positive integer, got ${String(v)}`);
  };
  (['embedDim', 'depth', 'numHeads', 'numClasses'] as const).forEach((k) => pos(k, c[k]));
  if (!(Number.isInteger(c.clsAttnLayers) && c.clsAttnLayers >= 1))
    throw new RangeError(`XCiT: clsAttnLayers must be a positive integer, got ${String(c.clsAttnLayers)}`);
  if (c.patchSize !== 16 && c.patchSize !== 8)
    throw new RangeError(`XCiT: patchSize must be 16 or 8 (timm's ConvPatchEmbed), got ${String(c.patchSize)}`);
  const stemDivisor = c.patchSize === 16 ? 8 : 4;
  if (c.embedDim % stemDivisor)
    throw new RangeError(
      `XCiT: embedDim ${c.embedDim} must be a multiple of ${stemDivisor} (the patch-${c.patchSize} conv stem's widths are embedDim/${stemDivisor}, ...)`,
    );
  if (c.embedDim % c.numHeads)
    throw new RangeError(`XCiT: embedDim ${c.embedDim} must be a multiple of numHeads ${c.numHeads}`);
  if (!(c.mlpRatio > 0)) throw new RangeError(`XCiT: mlpRatio must be positive, got ${String(c.mlpRatio)}`);
  if (
    c.dropPathRate !== undefined &&
    !(typeof c.dropPathRate === 'number' && c.dropPathRate >= 0 && c.dropPathRate < 1)
  )
    throw new RangeError(`XCiT: dropPathRate must be a number in [0, 1), got ${String(c.dropPathRate)}`);
  return c;
}
