import { Tensor } from '../tensor/tensor';

// Parameter initialisation: PyTorch's defaults (uniform in +-1/sqrt(fan_in) for conv and linear
// weights and biases) from a seedable generator, so a model built twice with one seed is the same.
// Building a model only to load a checkpoint skips it (`withoutInit`): the weights are overwritten.

let state = 0x9e3779b9;
let enabled = true;

/** Seeds the generator used by layer initialisation. */
export function manualSeed(seed: number): void {
  if (!Number.isInteger(seed)) throw new TypeError(`manualSeed: seed must be an integer, got ${String(seed)}`);
  state = seed >>> 0 || 0x9e3779b9;
}

// xorshift32: fast, and good enough for initial weights.
function next(): number {
  state ^= state << 13;
  state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5;
  state >>>= 0;
  return state / 4294967296;
}

/** Fills `data` uniformly in [-bound, bound] (nothing when initialisation is switched off). */
export function uniformInit(data: Float32Array, bound: number): Float32Array {
  if (enabled) for (let i = 0; i < data.length; i++) data[i] = (2 * next() - 1) * bound;
  return data;
}

/** Runs `build` with initialisation switched off: parameters stay zero until loaded. */
export function withoutInit<T>(build: () => T): T {
  const prev = enabled;
  enabled = false;
  try {
    return build();
  } finally {
    enabled = prev;
  }
}

/** A parameter tensor of `shape`, uniform in [-bound, bound], or zero when bound is null or
 * initialisation is off. */
export function uniformParameter(shape: number[], bound: number | null): Tensor {
  const t = new Tensor(new Float32Array(shape.reduce((p, d) => p * d, 1)), shape);
  if (bound !== null) uniformInit(t.data, bound);
  return t;
}
