// The safetensors format: an 8-byte little-endian header length, a JSON header mapping each tensor
// name to {dtype, shape, data_offsets: [begin, end]} (plus an optional "__metadata__" of strings),
// then the raw little-endian tensor bytes, offsets counted from the end of the header.
import { readFileSync, writeFileSync } from 'node:fs';
import { DTYPE_SIZES, StateDict, checkLittleEndianHost, decodeToFloat32, isDType, numelOf } from './dtype';
import { CheckpointError } from './errors';

/** The safetensors library's own limit, which keeps a corrupt length from allocating gigabytes. */
const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = '__metadata__';

export interface Safetensors {
  tensors: StateDict;
  metadata: Record<string, string>;
}

export type TensorsToWrite =
  | ReadonlyMap<string, { shape: readonly number[]; data: Float32Array }>
  | Readonly<Record<string, { shape: readonly number[]; data: Float32Array }>>;

/** Parses a safetensors file held in memory; every tensor comes back as float32. */
export function parseSafetensors(bytes: Uint8Array, source = 'the safetensors buffer'): Safetensors {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`parseSafetensors: bytes must be a Uint8Array, got ${typeof bytes}`);
  const fail = (problem: string) => new CheckpointError(`${source}: ${problem}`);
  if (bytes.length < 8) throw fail(`${bytes.length} bytes is too short for a safetensors file (needs an 8-byte header length)`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) throw fail(`header length ${headerLength} exceeds the ${MAX_HEADER_BYTES}-byte limit: not a safetensors file?`);
  if (headerLength > BigInt(bytes.length - 8))
    throw fail(`header length ${headerLength} exceeds the ${bytes.length - 8} bytes after the length field: the file is truncated or not a safetensors file`);
  const dataStart = 8 + Number(headerLength);
  const header = parseHeader(bytes.subarray(8, dataStart), fail);
  const data = bytes.subarray(dataStart);

  const tensors: StateDict = new Map();
  let metadata: Record<string, string> = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === METADATA_KEY) metadata = checkMetadata(info, fail);
    else tensors.set(name, readTensor(name, info, data, fail));
  }
  return { tensors, metadata };
}

export function readSafetensors(path: string): Safetensors {
  if (typeof path !== 'string') throw new TypeError(`readSafetensors: path must be a string, got ${typeof path}`);
  return parseSafetensors(readFileSync(path), path);
}

function parseHeader(bytes: Uint8Array, fail: (p: string) => CheckpointError): Record<string, unknown> {
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw fail(`the header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw fail('the header is not a JSON object');
  return header as Record<string, unknown>;
}

function checkMetadata(info: unknown, fail: (p: string) => CheckpointError): Record<string, string> {
  if (info === null || typeof info !== 'object' || Array.isArray(info)) throw fail(`${METADATA_KEY} is not an object`);
  for (const [key, value] of Object.entries(info))
    if (typeof value !== 'string') throw fail(`${METADATA_KEY}['${key}'] is not a string`);
  return { ...(info as Record<string, string>) };
}

function readTensor(name: string, info: unknown, data: Uint8Array, fail: (p: string) => CheckpointError) {
  if (info === null || typeof info !== 'object') throw fail(`the entry for tensor '${name}' is not an object`);
  const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
  if (!isDType(dtype))
    throw fail(`tensor '${name}' has dtype ${JSON.stringify(dtype)}; supported: ${Object.keys(DTYPE_SIZES).join(', ')}`);
  if (!Array.isArray(shape) || !shape.every(isIndex)) throw fail(`tensor '${name}' has shape ${JSON.stringify(shape)}, not a list of non-negative integers`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex) || offsets[0] > offsets[1])
    throw fail(`tensor '${name}' has data_offsets ${JSON.stringify(offsets)}, not [begin, end] with 0 <= begin <= end`);
  const [begin, end] = offsets as [number, number];
  if (end > data.length)
    throw fail(`tensor '${name}' has data_offsets [${begin}, ${end}] beyond the ${data.length}-byte data section: the file is truncated or corrupt`);
  const numel = numelOf(shape);
  if (end - begin !== numel * DTYPE_SIZES[dtype])
    throw fail(`tensor '${name}' of shape [${shape}] and dtype ${dtype} needs ${numel * DTYPE_SIZES[dtype]} bytes, but its data_offsets span ${end - begin}`);
  return { shape: shape.slice(), data: decodeToFloat32(data.subarray(begin, end), dtype, numel), dtype };
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
    fields.push(`${JSON.stringify(name)}:{"dtype":"F32","shape":${JSON.stringify(t.shape)},"data_offsets":[${offset},${end}]}`);
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
      throw new RangeError(`${what}: shape [${t.shape}] has ${numelOf(t.shape)} elements, but data has ${t.data.length}`);
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
  const fields = Object.keys(metadata).sort(byUtf8).map((key) => {
    const value = metadata[key];
    if (typeof value !== 'string') throw new TypeError(`serializeSafetensors: metadata['${key}'] must be a string, got ${typeof value}`);
    return `${JSON.stringify(key)}:${JSON.stringify(value)}`;
  });
  return `{${fields.join(',')}}`;
}
