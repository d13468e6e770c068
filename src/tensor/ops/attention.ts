// Fused multi-head attention: softmax(q k^T * scale) v in one native kernel that never stores the
// Tq x Tk score matrix (flash-attention style); the backward recomputes it block by block from
// the per-row log-sum-exp saved by the forward.
import { Tensor, record, numel, shapeString } from '../tensor';
import { backendOf, Storage } from '../device';
import { checkRank, checkOptions, checkOutput, describe } from '../check';

export interface AttentionOptions {
  /** Multiplies the logits q k^T; default 1 / sqrt(d). */
  scale?: number;
  /** Also return the attention probabilities [B, H, Tq, Tk] (a tensor without grad). */
  returnProbs?: boolean;
}

export interface AttentionWithProbs {
  out: Tensor;
  probs: Tensor;
}

const OP = 'attention';

function checkHeadShape(name: string, x: Tensor, layout: string, expected: (number | null)[], from: string): void {
  const ok = expected.every((e, i) => e === null || e === x.shape[i]);
  if (ok) return;
  const want = expected.map((e, i) => (e === null ? layout.split(', ')[i] : String(e))).join(', ');
  throw new RangeError(`${OP}: ${name} must have shape [${layout}] = [${want}] (${from}), got ${shapeString(x.shape)}`);
}

/**
 * Scaled dot-product attention over heads: q [B, H, Tq, d], k [B, H, Tk, d], v [B, H, Tk, dv]
 * -> [B, H, Tq, dv]. Differentiable in q, k and v. With `returnProbs: true` returns
 * `{ out, probs }` where probs [B, H, Tq, Tk] are the attention maps (no grad).
 */
export function attention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  options?: AttentionOptions & { returnProbs?: false },
): Tensor;
export function attention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  options: AttentionOptions & { returnProbs: true },
): AttentionWithProbs;
export function attention(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions): Tensor | AttentionWithProbs;
export function attention(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions): Tensor | AttentionWithProbs {
  checkRank(OP, 'q', q, 4, '[B, H, Tq, d]');
  checkRank(OP, 'k', k, 4, '[B, H, Tk, d]');
  checkRank(OP, 'v', v, 4, '[B, H, Tk, dv]');
  const [B, H, Tq, d] = q.shape;
  const Tk = k.shape[2];
  checkHeadShape('k', k, 'B, H, Tk, d', [B, H, null, d], 'B, H and d of q');
  checkHeadShape('v', v, 'B, H, Tk, dv', [B, H, Tk, null], 'B, H of q and Tk of k');
  const dv = v.shape[3];
  if (d < 1) throw new RangeError(`${OP}: q must have a head dimension d >= 1, got shape ${shapeString(q.shape)}`);
  if (Tk < 1)
    throw new RangeError(`${OP}: k and v must hold at least one key (Tk >= 1), got k shape ${shapeString(k.shape)}`);
  if (dv < 1) throw new RangeError(`${OP}: v must have a value dimension dv >= 1, got shape ${shapeString(v.shape)}`);

  const opts = checkOptions(OP, options, ['scale', 'returnProbs']);
  let scale = 1 / Math.sqrt(d);
  if (opts.scale !== undefined) {
    if (typeof opts.scale !== 'number')
      throw new TypeError(`${OP}: scale must be a number, got ${describe(opts.scale)}`);
    if (!Number.isFinite(opts.scale) || Math.abs(opts.scale) > 3.4e38)
      throw new RangeError(`${OP}: scale must be a finite float32 value, got ${opts.scale}`);
    scale = opts.scale;
  }
  const returnProbs = opts.returnProbs ?? false;
  if (typeof returnProbs !== 'boolean')
    throw new TypeError(`${OP}: returnProbs must be a boolean, got ${describe(returnProbs)}`);

  const outShape = [B, H, Tq, dv];
  checkOutput(OP, 'output', outShape, `q ${shapeString(q.shape)} and v ${shapeString(v.shape)}`);
  if (returnProbs) checkOutput(OP, 'probs', [B, H, Tq, Tk], `q ${shapeString(q.shape)} and k ${shapeString(k.shape)}`);
  const dev = backendOf(OP, q, k, v);
  const outData = dev.empty(numel(outShape));
  const lse = dev.empty(B * H * Tq); // per-row log-sum-exp, kept for the backward
  const probsData = returnProbs ? dev.empty(B * H * Tq * Tk) : null;
  dev.native.attentionForward(B, H, Tq, Tk, d, dv, scale, q.storage, k.storage, v.storage, outData, lse, probsData);

  const qd = q.storage,
    kd = k.storage,
    vd = v.storage;
  const out = record<Storage>(OP, outData, outShape, [q, k, v], (gradOut, needs) => {
    const gq = needs[0] ? dev.empty(qd.length) : null;
    const gk = needs[1] ? dev.empty(kd.length) : null;
    const gv = needs[2] ? dev.empty(vd.length) : null;
    dev.native.attentionBackward(B, H, Tq, Tk, d, dv, scale, qd, kd, vd, outData, lse, gradOut, gq, gk, gv);
    return [gq, gk, gv];
  });
  if (!probsData) return out;
  return { out, probs: new Tensor(probsData, [B, H, Tq, Tk]) };
}
