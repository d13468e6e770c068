// The safetensors format: an 8-byte little-endian header length, a JSON header mapping each tensor
// name to {dtype, shape, data_offsets: [begin, end]} (plus an optional "__metadata__" of strings),
// then the raw little-endian tensor bytes, offsets counted from the end of the header.
import { writeFileSync } from 'node:fs';
import { DTYPE_SIZES, DType, StateDict, checkLittleEndianHost, decodeToFloat32, isDType, numelOf } from './dtype';
import { CheckpointError, printable } from './errors';
import { LoadBudget, LoadLimits, checkLoadLimits, readRegularFileSync } from './limits';

/** The safetensors library's own limit, which keeps a corrupt length from allocating gigabytes. */
const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = '__metadata__';
// A header is an object of objects of lists (depth 3); deeper JSON is not a safetensors header,
// and nested thousands deep it would overflow the stack of whatever prints it.
const MAX_HEADER_DEPTH = 8;
/** PyTorch's own limit on a tensor's dimensions. */
const MAX_DIMS = 64;
const HEADER_PARSE_FACTOR = 8;

export interface Safetensors {
  tensors: StateDict;
  metadata: Record<string, string>;
}

export type TensorsToWrite =
  | ReadonlyMap<string, { shape: readonly number[]; data: Float32Array }>
  | Readonly<Record<string, { shape: readonly number[]; data: Float32Array }>>;

/**
 * Parses a safetensors file held in memory; every tensor comes back as float32. As the format
 * requires, the tensors must tile the data section exactly: overlapping tensors, gaps, bytes no
 * tensor owns and duplicate names are refused. `options` bounds the memory it may allocate.
 */
export function parseSafetensors(
  bytes: Uint8Array,
  source = 'the safetensors buffer',
  options?: LoadLimits,
): Safetensors {
  if (!(bytes instanceof Uint8Array))
    throw new TypeError(`parseSafetensors: bytes must be a Uint8Array, got ${typeof bytes}`);
  const limits = checkLoadLimits('parseSafetensors', options);
  const shown = printable(String(source));
  return parseSafetensorsFrom(bytes, shown, new LoadBudget(shown, bytes.length, limits));
}

/** parseSafetensors for a source already made printable, charging `budget`. */
export function parseSafetensorsFrom(bytes: Uint8Array, source: string, budget: LoadBudget): Safetensors {
  const fail = (problem: string) => new CheckpointError(`${source}: ${problem}`);
  if (bytes.length < 8)
    throw fail(`${bytes.length} bytes is too short for a safetensors file (needs an 8-byte header length)`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES))
    throw fail(`header length ${headerLength} exceeds the ${MAX_HEADER_BYTES}-byte limit: not a safetensors file?`);
  if (headerLength > BigInt(bytes.length - 8))
    throw fail(
      `header length ${headerLength} exceeds the ${bytes.length - 8} bytes after the length field: the file is truncated or not a safetensors file`,
    );
  const dataStart = 8 + Number(headerLength);
  // Parsed JSON takes several times its text (a 2-byte '0,' becomes an 8-byte slot, a key a string and a hash row).
  budget.charge(Number(headerLength) * HEADER_PARSE_FACTOR, `parsing the ${headerLength}-byte JSON header`);
  const header = parseHeader(bytes.subarray(8, dataStart), fail);
  const data = bytes.subarray(dataStart);

  let metadata: Record<string, string> = {};
  const entries: TensorEntry[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === METADATA_KEY) metadata = checkMetadata(info, fail);
    else entries.push(checkEntry(name, info, data.length, fail));
  }
  checkTiling(entries, data.length, fail);
  const tensors: StateDict = new Map();
  for (const e of entries) {
    budget.charge(e.numel * 4, `tensor '${printable(e.name)}' (${e.numel * 4} bytes as float32)`);
    tensors.set(e.name, {
      shape: e.shape,
      data: decodeToFloat32(data.subarray(e.begin, e.end), e.dtype, e.numel),
      dtype: e.dtype,
    });
  }
  return { tensors, metadata };
}

/** Reads a .safetensors file (regular files only); see parseSafetensors. */
export function readSafetensors(path: string, options?: LoadLimits): Safetensors {
  if (typeof path !== 'string') throw new TypeError(`readSafetensors: path must be a string, got ${typeof path}`);
  const limits = checkLoadLimits('readSafetensors', options);
  const shown = printable(path);
  const bytes = readRegularFileSync(path, (problem) => new CheckpointError(`${shown} ${problem}`), limits.maxBytes);
  return parseSafetensorsFrom(bytes, shown, new LoadBudget(shown, bytes.length, limits));
}

function parseHeader(bytes: Uint8Array, fail: (p: string) => CheckpointError): Record<string, unknown> {
  let header: unknown;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e) {
    throw fail(`the header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  scanHeader(text, fail);
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw fail(`the header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header))
    throw fail('the header is not a JSON object');
  return header as Record<string, unknown>;
}

/**
 * One pass over the header text before JSON.parse: refuses nesting deeper than a header has and
 * duplicate keys in any object (JSON.parse would silently keep the last one, so two tools could
 * read two different tensors under one name). Malformed JSON is left for JSON.parse to report.
 */
function scanHeader(text: string, fail: (p: string) => CheckpointError): void {
  const open: (Set<string> | null)[] = []; // per open bracket: the keys of an object, null for a list
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const keys = open[open.length - 1];
      if (keys && expectKey) {
        let key: string;
        try {
          key = JSON.parse(text.slice(i, j + 1)) as string;
        } catch {
          return; // JSON.parse reports it
        }
        if (keys.has(key))
          throw fail(
            `the header has the key '${printable(key)}' twice in one object; the safetensors format allows each name once`,
          );
        keys.add(key);
        expectKey = false;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      if (open.length >= MAX_HEADER_DEPTH)
        throw fail(`the header nests deeper than ${MAX_HEADER_DEPTH} levels, which no safetensors header does`);
      open.push(c === '{' ? new Set() : null);
      expectKey = c === '{';
    } else if (c === '}' || c === ']') {
      open.pop();
    } else if (c === ',') {
      expectKey = open[open.length - 1] instanceof Set;
    }
  }
}

function checkMetadata(info: unknown, fail: (p: string) => CheckpointError): Record<string, string> {
  if (info === null || typeof info !== 'object' || Array.isArray(info)) throw fail(`${METADATA_KEY} is not an object`);
  for (const [key, value] of Object.entries(info))
    if (typeof value !== 'string') throw fail(`${METADATA_KEY}['${printable(key)}'] is not a string`);
  return { ...(info as Record<string, string>) };
}

interface TensorEntry {
  name: string;
  dtype: DType;
  shape: number[];
  numel: number;
  begin: number;
  end: number;
}

function checkEntry(
  name: string,
  info: unknown,
  dataLength: number,
  fail: (p: string) => CheckpointError,
): TensorEntry {
  const shown = printable(name);
  if (info === null || typeof info !== 'object') throw fail(`the entry for tensor '${shown}' is not an object`);
  const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
  if (!isDType(dtype))
    throw fail(
      `tensor '${shown}' has dtype ${printable(JSON.stringify(dtype) ?? String(dtype))}; supported: ${Object.keys(DTYPE_SIZES).join(', ')}`,
    );
  if (!Array.isArray(shape) || shape.length > MAX_DIMS || !shape.every(isIndex))
    throw fail(
      `tensor '${shown}' has shape ${printable(JSON.stringify(shape) ?? String(shape))}, not a list of at most ${MAX_DIMS} non-negative integers`,
    );
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex) || offsets[0] > offsets[1])
    throw fail(
      `tensor '${shown}' has data_offsets ${printable(JSON.stringify(offsets) ?? String(offsets))}, not [begin, end] with 0 <= begin <= end`,
    );
  const [begin, end] = offsets as [number, number];
  if (end > dataLength)
    throw fail(
      `tensor '${shown}' has data_offsets [${begin}, ${end}] beyond the ${dataLength}-byte data section: the file is truncated or corrupt`,
    );
  const numel = numelOf(shape);
  if (end - begin !== numel * DTYPE_SIZES[dtype])
    throw fail(
      `tensor '${shown}' of shape [${shape}] and dtype ${dtype} needs ${numel * DTYPE_SIZES[dtype]} bytes, but its data_offsets span ${end - begin}`,
    );
  return { name, dtype, shape: shape.slice(), numel, begin, end };
}

/**
 * The tensors must cover the data section exactly once, as the safetensors library checks: an
 * overlap would let a small file alias one region as many tensors (memory amplification), a gap
 * or a tail hides bytes no tensor owns.
 */
function checkTiling(entries: TensorEntry[], dataLength: number, fail: (p: string) => CheckpointError): void {
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: TensorEntry | undefined;
  for (const e of sorted) {
    if (e.begin < covered)
      throw fail(
        `tensors '${printable(previous!.name)}' [${previous!.begin}, ${previous!.end}] and '${printable(e.name)}' [${e.begin}, ${e.end}] overlap; ` +
          'the safetensors format gives each tensor its own bytes',
      );
    if (e.begin > covered)
      throw fail(
        `bytes [${covered}, ${e.begin}) of the data section belong to no tensor (a gap before '${printable(e.name)}'); the safetensors format allows no gaps`,
      );
    covered = e.end;
    previous = e;
  }
  if (covered !== dataLength)
    throw fail(
      `bytes [${covered}, ${dataLength}) at the end of the data section belong to no tensor; the safetensors format allows no trailing bytes`,
    );
}

function isIndex(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

/**
 * Serializes float32 tensors the way the safetensors library does: dtype F32, keys sorted (by
 * UTF-8 bytes), data in key order, compact JSON with "__metadata__" first, header padded with
 * spaces to a multiple of 8 bytes.
 */
export function serializeSafetensors(tensors: TensorsToWrite, metadata?: Record<string, string>): Uint8Array {
  checkLittleEndianHost();
  const entries = checkTensorsToWrite(tensors);
  const fields: string[] = [];
  if (metadata !== undefined) fields.push(`${JSON.stringify(METADATA_KEY)}:${metadataJson(metadata)}`);
  let offset = 0;
  for (const [name, t] of entries) {
    const end = offset + t.data.byteLength;
    fields.push(
      `${JSON.stringify(name)}:{"dtype":"F32","shape":${JSON.stringify(t.shape)},"data_offsets":[${offset},${end}]}`,
    );
    offset = end;
  }
  const json = Buffer.from(`{${fields.join(',')}}`, 'utf8');
  const headerLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let at = 8 + headerLength;
  for (const [, t] of entries) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

export function writeSafetensors(path: string, tensors: TensorsToWrite, metadata?: Record<string, string>): void {
  if (typeof path !== 'string') throw new TypeError(`writeSafetensors: path must be a string, got ${typeof path}`);
  writeFileSync(path, serializeSafetensors(tensors, metadata));
}

function checkTensorsToWrite(tensors: TensorsToWrite): [string, { shape: readonly number[]; data: Float32Array }][] {
  if (tensors === null || typeof tensors !== 'object' || Array.isArray(tensors))
    throw new TypeError('serializeSafetensors: tensors must be a Map or an object of {shape, data}');
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  for (const [name, t] of entries) {
    const what = `serializeSafetensors: tensors['${String(name)}']`;
    if (typeof name !== 'string' || name === '' || name === METADATA_KEY)
      throw new TypeError(`${what}: names must be non-empty strings other than '${METADATA_KEY}'`);
    if (t === null || typeof t !== 'object' || !(t.data instanceof Float32Array))
      throw new TypeError(`${what} must be {shape, data} with data a Float32Array`);
    if (!Array.isArray(t.shape) || !t.shape.every(isIndex))
      throw new TypeError(`${what}.shape must be an array of non-negative integers, got ${JSON.stringify(t.shape)}`);
    if (numelOf(t.shape) !== t.data.length)
      throw new RangeError(
        `${what}: shape [${t.shape}] has ${numelOf(t.shape)} elements, but data has ${t.data.length}`,
      );
  }
  return entries.sort(([a], [b]) => byUtf8(a, b));
}

// The library orders names by UTF-8 bytes (Rust string order), which differs from UTF-16 order.
function byUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

// Built by hand rather than through an object so that any key (even '__proto__') is kept.
function metadataJson(metadata: Record<string, string>): string {
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata))
    throw new TypeError('serializeSafetensors: metadata must be an object of strings');
  const fields = Object.keys(metadata)
    .sort(byUtf8)
    .map((key) => {
      const value = metadata[key];
      if (typeof value !== 'string')
        throw new TypeError(`serializeSafetensors: metadata['${key}'] must be a string, got ${typeof value}`);
      return `${JSON.stringify(key)}:${JSON.stringify(value)}`;
    });
  return `{${fields.join(',')}}`;
}
