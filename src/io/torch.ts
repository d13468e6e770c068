// PyTorch checkpoints written by torch.save since 1.6: a zip holding <archive>/data.pkl (the
// pickled object, tensors as persistent references) and <archive>/data/<key> (raw storage bytes).
import { DType, DTYPE_SIZES, StateTensor, decodeToFloat32, isStateTensor, numelOf } from './dtype';
import { CheckpointError, printable } from './errors';
import { LoadBudget, LoadLimits, checkLoadLimits, readRegularFileSync } from './limits';
import { PLAIN_GLOBALS, PickleCallable, PickleContext, SLOT_BYTES, unpickle } from './pickle';
import { ZipArchive } from './zip';

/** A storage referenced from data.pkl: raw little-endian elements of one dtype. */
class TorchStorage {
  constructor(
    readonly key: string,
    readonly dtype: DType,
    readonly bytes: Uint8Array,
    readonly numel: number,
  ) {}
}

/** The value of a storage-type global such as torch.FloatStorage. */
class StorageType {
  constructor(
    readonly name: string,
    readonly dtype: DType,
  ) {}
}

const STORAGE_TYPES: Readonly<Record<string, DType>> = {
  FloatStorage: 'F32',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  DoubleStorage: 'F64',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

// torch dtypes pickle as globals (torch.float32); they can appear in saved hyper-parameters.
const TORCH_DTYPES = [
  'float32',
  'float64',
  'float16',
  'bfloat16',
  'int64',
  'int32',
  'int16',
  'int8',
  'uint8',
  'bool',
  'complex64',
  'complex128',
];

/**
 * The unpickled object of a torch zip checkpoint: Maps for dicts, arrays for lists and tuples,
 * StateTensors for tensors. `options` bounds the memory the file may make it allocate (LoadLimits).
 */
export function parseTorchCheckpoint(
  bytes: Uint8Array,
  source = 'the checkpoint buffer',
  options?: LoadLimits,
): unknown {
  if (!(bytes instanceof Uint8Array))
    throw new TypeError(`parseTorchCheckpoint: bytes must be a Uint8Array, got ${typeof bytes}`);
  const limits = checkLoadLimits('parseTorchCheckpoint', options);
  const shown = printable(String(source));
  return parseTorch(bytes, shown, new LoadBudget(shown, bytes.length, limits));
}

/** parseTorchCheckpoint for a source already made printable, charging `budget`. */
export function parseTorch(bytes: Uint8Array, source: string, budget: LoadBudget): unknown {
  if (bytes[0] === 0x80)
    throw new CheckpointError(
      `${source} is in PyTorch's legacy (pre-1.6) serialization format, which lkvit does not read: ` +
        're-save it with torch >= 1.6 (torch.save(torch.load(path), new_path)) or convert it to safetensors',
    );
  if (!(bytes[0] === 0x50 && bytes[1] === 0x4b))
    throw new CheckpointError(`${source} is not a PyTorch checkpoint (not a zip archive)`);
  const zip = new ZipArchive(bytes, source);
  const prefix = archivePrefix(zip, source);
  if (zip.entries.has(`${prefix}constants.pkl`))
    throw new CheckpointError(
      `${source} is a TorchScript archive (torch.jit.save), which holds code: save the model's weights with torch.save(model.state_dict(), path) instead`,
    );
  checkByteOrder(zip, prefix, source);

  const persistentLoad = storageLoader(zip, prefix, source, budget);
  return unpickle(zip.read(`${prefix}data.pkl`, budget), { source, globals: torchGlobals(), persistentLoad, budget });
}

/** Reads a torch zip checkpoint (.pth / .pt / .bin) from disk; see parseTorchCheckpoint. Only regular files are read. */
export function readTorchCheckpoint(path: string, options?: LoadLimits): unknown {
  if (typeof path !== 'string') throw new TypeError(`readTorchCheckpoint: path must be a string, got ${typeof path}`);
  const limits = checkLoadLimits('readTorchCheckpoint', options);
  const shown = printable(path);
  const bytes = readRegularFileSync(path, (problem) => new CheckpointError(`${shown} ${problem}`), limits.maxBytes);
  return parseTorch(bytes, shown, new LoadBudget(shown, bytes.length, limits));
}

/** Resolves data.pkl's ('storage', storage_type, key, location, numel) references to data/<key>, each read once. */
function storageLoader(
  zip: ZipArchive,
  prefix: string,
  source: string,
  budget: LoadBudget,
): (pid: unknown) => TorchStorage {
  const storages = new Map<string, TorchStorage>();
  return (pid) => {
    if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== 'storage')
      throw new CheckpointError(`${source}: data.pkl references a persistent object that is not a storage`);
    const [, type, key, , numel] = pid;
    if (!(type instanceof StorageType))
      throw new CheckpointError(`${source}: a storage reference lacks a known storage type`);
    if (typeof key !== 'string' || !Number.isSafeInteger(numel) || (numel as number) < 0)
      throw new CheckpointError(`${source}: a storage reference has a bad key or element count`);
    const cached = storages.get(key);
    if (cached) {
      if (cached.dtype !== type.dtype || cached.numel !== numel)
        throw new CheckpointError(
          `${source}: storage '${printable(key)}' is referenced with two different types or sizes`,
        );
      return cached;
    }
    const name = `${prefix}data/${key}`;
    if (!zip.entries.has(name))
      throw new CheckpointError(`${source} lacks the storage '${printable(name)}' that data.pkl references`);
    const bytes = zip.read(name, budget); // a view of the file unless deflated (then charged)
    const expected = (numel as number) * DTYPE_SIZES[type.dtype];
    if (bytes.length !== expected)
      throw new CheckpointError(
        `${source}: storage '${printable(name)}' holds ${bytes.length} bytes, but ${numel} ${type.name} elements need ${expected}`,
      );
    const storage = new TorchStorage(key, type.dtype, bytes, numel as number);
    storages.set(key, storage);
    return storage;
  };
}

// The archive's top folder varies ('archive', or the file stem in older torch): find it by data.pkl.
function archivePrefix(zip: ZipArchive, source: string): string {
  for (const name of zip.entries.keys()) {
    const slash = name.indexOf('/');
    if (slash > 0 && name.slice(slash + 1) === 'data.pkl') return name.slice(0, slash + 1);
  }
  throw new CheckpointError(`${source} is a zip archive but not a torch.save checkpoint (no <archive>/data.pkl entry)`);
}

function checkByteOrder(zip: ZipArchive, prefix: string, source: string): void {
  const name = `${prefix}byteorder`;
  if (!zip.entries.has(name)) return; // written since torch 1.11; older files are little-endian
  const order = Buffer.from(zip.read(name)).toString('latin1').trim();
  if (order === 'little') return;
  throw new CheckpointError(
    order === 'big'
      ? `${source} was saved on a big-endian machine; lkvit reads little-endian checkpoints only: re-save it on a little-endian machine or convert it to safetensors`
      : `${source} has an unknown byteorder '${order.slice(0, 20)}' (expected 'little')`,
  );
}

let globalsCache: ReadonlyMap<string, unknown> | undefined;
function torchGlobals(): ReadonlyMap<string, unknown> {
  if (globalsCache) return globalsCache;
  const globals = new Map<string, unknown>(PLAIN_GLOBALS);
  for (const [name, dtype] of Object.entries(STORAGE_TYPES)) globals.set(`torch.${name}`, new StorageType(name, dtype));
  for (const name of TORCH_DTYPES) globals.set(`torch.${name}`, `torch.${name}`);
  const define = (name: string, fn: (args: unknown[], vm: PickleContext) => unknown) =>
    globals.set(name, new PickleCallable(name, fn));
  define('torch._utils._rebuild_tensor_v2', rebuildTensor);
  // Parameters come back as their data: requires_grad, hooks and attributes do not matter here.
  define('torch._utils._rebuild_parameter', parameterData);
  define('torch._utils._rebuild_parameter_with_state', parameterData);
  globalsCache = globals;
  return globals;
}

function parameterData(args: unknown[]): StateTensor {
  if (!isStateTensor(args[0])) throw new CheckpointError('the parameter data is not a tensor');
  return args[0];
}

// A stride-0 (expanded) view could otherwise claim a huge size over a tiny storage (the load's
// budget refuses most such views long before this).
const MAX_ELEMENTS = 2 ** 31 - 1;
/** PyTorch's own limit on a tensor's dimensions. */
const MAX_DIMS = 64;

/**
 * _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]).
 * Every view gets its own float32 data (decoded from just the span it reads), charged to the budget:
 * views of one storage are how a small file describes gigabytes.
 */
function rebuildTensor(args: unknown[], vm: PickleContext): StateTensor {
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof TorchStorage)) throw new CheckpointError('the first argument is not a storage');
  if (!isIndex(offset)) throw new CheckpointError('the storage offset is not a non-negative integer');
  if (!Array.isArray(size) || size.length > MAX_DIMS || !size.every(isIndex))
    throw new CheckpointError(`the size is not a tuple of at most ${MAX_DIMS} non-negative integers`);
  if (!Array.isArray(stride) || stride.length !== size.length || !stride.every(isIndex))
    throw new CheckpointError(`the stride is not a tuple of ${size.length} non-negative integers`);
  const shape = [...size] as number[]; // the size tuple may be shared through the memo
  const strides = stride as number[];
  const numel = numelOf(shape);
  if (numel > MAX_ELEMENTS)
    throw new CheckpointError(`a tensor of size [${shape}] has more than ${MAX_ELEMENTS} elements`);
  vm.charge(numel * 4 + shape.length * SLOT_BYTES, `a tensor of size [${shape}] (${numel * 4} bytes as float32)`);
  if (numel === 0) return { shape, data: new Float32Array(0), dtype: storage.dtype };
  // Decode only the span the tensor reads, then gather when the layout is not row-major.
  const last = offset + shape.reduce((sum, d, i) => sum + (d - 1) * strides[i], 0);
  if (last >= storage.numel)
    throw new CheckpointError(
      `a tensor of size [${shape}], stride [${strides}] and offset ${offset} reads element ${last} of storage '${printable(storage.key)}', which has ${storage.numel}`,
    );
  const elementSize = DTYPE_SIZES[storage.dtype];
  const span = decodeToFloat32(
    storage.bytes.subarray(offset * elementSize, (last + 1) * elementSize),
    storage.dtype,
    last + 1 - offset,
  );
  // Size-1 dimensions never move the odometer: dropping them keeps 64 of them from costing 64 steps per element.
  const kept = shape.map((_, i) => i).filter((i) => shape[i] !== 1);
  const data =
    span.length === numel && isRowMajor(shape, strides)
      ? span
      : gather(
          span,
          kept.map((i) => shape[i]),
          kept.map((i) => strides[i]),
          numel,
        );
  return { shape, data, dtype: storage.dtype };
}

function isIndex(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

function isRowMajor(shape: number[], strides: number[]): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && strides[d] !== expected) return false;
    expected *= shape[d];
  }
  return true;
}

/** Row-major copy of a strided view of src (odometer over the dimensions). */
function gather(src: Float32Array, shape: number[], strides: number[], numel: number): Float32Array {
  const out = new Float32Array(numel);
  const index = new Array<number>(shape.length).fill(0);
  let at = 0;
  for (let i = 0; i < numel; i++) {
    out[i] = src[at];
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++index[d] < shape[d]) {
        at += strides[d];
        break;
      }
      at -= (shape[d] - 1) * strides[d];
      index[d] = 0;
    }
  }
  return out;
}
