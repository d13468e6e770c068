// Element types found in checkpoint files and their exact conversion to float32, the only type
// lkvit computes in. Shared by the safetensors and the PyTorch readers.
import { endianness } from 'node:os';

export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** One tensor of a checkpoint, converted to float32 (integers and bools too: BN's num_batches_tracked is I64). */
export interface StateTensor {
  shape: number[];
  data: Float32Array;
  /** The element type stored in the file. */
  dtype: DType;
}

export type StateDict = Map<string, StateTensor>;

export const DTYPE_SIZES: Readonly<Record<DType, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

export function isDType(s: unknown): s is DType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_SIZES, s);
}

/** True for the tensor objects the readers produce (unpickled plain values never hold a Float32Array). */
export function isStateTensor(v: unknown): v is StateTensor {
  if (v === null || typeof v !== 'object') return false;
  const t = v as Partial<StateTensor>;
  return t.data instanceof Float32Array && Array.isArray(t.shape) && isDType(t.dtype);
}

/** Product of the dimensions (1 for a 0-d shape). */
export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

// Files store little-endian values; typed-array views read and write in host order.
export function checkLittleEndianHost(): void {
  if (endianness() !== 'LE') throw new Error('lkvit reads checkpoints only on little-endian CPUs');
}

/**
 * Converts `count` little-endian elements of `dtype` held in `bytes` (exactly count * size bytes,
 * at any alignment) to float32. The bytes are copied first so typed views are always aligned.
 */
export function decodeToFloat32(bytes: Uint8Array, dtype: DType, count: number): Float32Array {
  checkLittleEndianHost();
  const size = DTYPE_SIZES[dtype];
  if (bytes.length !== count * size)
    throw new RangeError(
      `decodeToFloat32: expected ${count * size} bytes for ${count} ${dtype} values, got ${bytes.length}`,
    );
  const copy = new Uint8Array(bytes.length); // aligned, and never a view of the file (Buffer.slice would be)
  copy.set(bytes);
  const buf = copy.buffer;
  switch (dtype) {
    case 'F32':
      return new Float32Array(buf);
    case 'F64':
      return Float32Array.from(new Float64Array(buf)); // rounds to nearest even
    case 'F16': {
      const table = halfToFloatTable();
      return bitsToFloat32(new Uint16Array(buf), (h) => table[h]);
    }
    case 'BF16':
      return bitsToFloat32(new Uint16Array(buf), (h) => h << 16);
    case 'I64':
      return Float32Array.from(new BigInt64Array(buf), int64ToFloat32);
    case 'I32':
      return Float32Array.from(new Int32Array(buf));
    case 'I16':
      return Float32Array.from(new Int16Array(buf));
    case 'I8':
      return Float32Array.from(new Int8Array(buf));
    case 'U8':
      return Float32Array.from(new Uint8Array(buf));
    case 'BOOL':
      return Float32Array.from(new Uint8Array(buf), (b) => (b !== 0 ? 1 : 0));
  }
}

// Writes float32 bit patterns directly so NaN payloads survive the conversion.
function bitsToFloat32(src: Uint16Array, toBits: (h: number) => number): Float32Array {
  const out = new Float32Array(src.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) bits[i] = toBits(src[i]);
  return out;
}

// IEEE half -> float32 bits, exact: every half (subnormals included) is a normal float32 or zero.
let halfTable: Uint32Array | undefined;
function halfToFloatTable(): Uint32Array {
  if (!halfTable) {
    halfTable = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) halfTable[h] = convertHalf(h);
  }
  return halfTable;
}

function convertHalf(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0; // inf, NaN (payload kept)
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0; // +-0
  // Subnormal: mant * 2^-24; shift the leading one into the implicit bit.
  let e = 113;
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

/** The float32 nearest to an int64 (ties to even), as torch's .float() gives; a float64 step in between could round twice. */
export function int64ToFloat32(v: bigint): number {
  const n = Number(v);
  if (Number.isSafeInteger(n)) return n; // exact, so storing it rounds once
  const negative = v < 0n;
  const magnitude = negative ? -v : v;
  const shift = BigInt(magnitude.toString(2).length - 24); // keep 24 significant bits
  let kept = magnitude >> shift;
  const rest = magnitude - (kept << shift);
  const half = 1n << (shift - 1n);
  if (rest > half || (rest === half && (kept & 1n) === 1n)) kept += 1n;
  const rounded = Number(kept) * 2 ** Number(shift);
  return negative ? -rounded : rounded;
}
