// A read-only zip reader for PyTorch checkpoints (torch.save since 1.6 writes a zip of stored
// entries with data descriptors and ZIP64 records). Every offset and length read from the file is
// checked against the buffer before use, so a corrupt or truncated file throws, never misreads.
import * as zlib from 'node:zlib';
import { CheckpointError, printable } from './errors';
import type { LoadBudget } from './limits';

export interface ZipEntry {
  name: string;
  /** 0: stored, 8: deflate. */
  method: number;
  flags: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const EOCD_SIZE = 22;
const LOCAL_HEADER_SIZE = 30;
const CENTRAL_HEADER_SIZE = 46;
const ZIP64_LOCATOR_SIZE = 20;
const ZIP64_EOCD_SIZE = 56;
const ZIP64_EXTRA_ID = 0x0001;
const MAX_COMMENT = 0xffff;

export class ZipArchive {
  /** Entries by name, from the central directory. */
  readonly entries = new Map<string, ZipEntry>();
  private readonly view: DataView;

  constructor(
    readonly bytes: Uint8Array,
    readonly source: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.readCentralDirectory();
  }

  /** The uncompressed bytes of an entry (a view into the archive for stored entries), CRC-checked; inflating is charged to `budget`. */
  read(name: string, budget?: LoadBudget): Uint8Array {
    const entry = this.entries.get(name);
    if (!entry) throw this.error(`has no entry '${printable(name)}'`);
    const at = entry.localHeaderOffset;
    this.need(at, LOCAL_HEADER_SIZE, `the local header of '${printable(name)}'`);
    if (this.view.getUint32(at, true) !== SIG_LOCAL)
      throw this.error(
        `the local header of '${printable(name)}' at offset ${at} has a bad signature (wrong offset in the central directory)`,
      );
    const nameLength = this.view.getUint16(at + 26, true);
    const extraLength = this.view.getUint16(at + 28, true);
    this.need(at + LOCAL_HEADER_SIZE, nameLength, `the local header of '${printable(name)}'`);
    const localName = decodeName(this.bytes.subarray(at + LOCAL_HEADER_SIZE, at + LOCAL_HEADER_SIZE + nameLength));
    if (localName !== name)
      throw this.error(
        `the local header at offset ${at} names '${printable(localName)}', but the central directory says '${printable(name)}'`,
      );
    const dataStart = at + LOCAL_HEADER_SIZE + nameLength + extraLength;
    this.need(dataStart, entry.compressedSize, `the data of '${printable(name)}'`);
    const raw = this.bytes.subarray(dataStart, dataStart + entry.compressedSize);
    if (entry.method !== 0)
      budget?.charge(entry.size, `inflating zip entry '${printable(name)}' (${entry.size} bytes)`);
    const data = this.uncompress(entry, raw);
    const crc = crc32(data);
    if (crc !== entry.crc32)
      throw this.error(
        `entry '${printable(name)}' fails its CRC-32 check (stored ${hex(entry.crc32)}, computed ${hex(crc)}): the file is corrupt`,
      );
    return data;
  }

  private uncompress(entry: ZipEntry, raw: Uint8Array): Uint8Array {
    if (entry.flags & 1) throw this.error(`entry '${printable(entry.name)}' is encrypted`);
    if (entry.method === 0) {
      if (entry.compressedSize !== entry.size)
        throw this.error(
          `stored entry '${printable(entry.name)}' has compressed size ${entry.compressedSize} != size ${entry.size}`,
        );
      return raw;
    }
    if (entry.method === 8) {
      let out: Buffer;
      try {
        // The output limit keeps a corrupt size field or a zip bomb from exhausting memory.
        out = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(entry.size, 1) });
      } catch (e) {
        throw this.error(
          `entry '${printable(entry.name)}' does not inflate to its recorded size ${entry.size}: ${(e as Error).message}`,
        );
      }
      if (out.length !== entry.size)
        throw this.error(
          `entry '${printable(entry.name)}' inflates to ${out.length} bytes, but its recorded size is ${entry.size}`,
        );
      return new Uint8Array(out.buffer, out.byteOffset, out.length);
    }
    throw this.error(
      `entry '${printable(entry.name)}' uses compression method ${entry.method} (only 0 = stored and 8 = deflate are supported)`,
    );
  }

  private readCentralDirectory(): void {
    const eocd = this.findEndOfCentralDirectory();
    const v = this.view;
    if (v.getUint16(eocd + 4, true) !== 0 || v.getUint16(eocd + 6, true) !== 0)
      throw this.error('is a multi-volume zip archive, which is not supported');
    let count = v.getUint16(eocd + 10, true);
    let cdSize = v.getUint32(eocd + 12, true);
    let cdOffset = v.getUint32(eocd + 16, true);
    let cdLimit = eocd;
    // torch always writes the ZIP64 records; other writers only when a field overflows.
    const locator = eocd - ZIP64_LOCATOR_SIZE;
    if (locator >= 0 && v.getUint32(locator, true) === SIG_ZIP64_LOCATOR) {
      const at = this.u64(locator + 8, 'the ZIP64 end-of-central-directory offset');
      this.need(at, ZIP64_EOCD_SIZE, 'the ZIP64 end-of-central-directory record');
      if (v.getUint32(at, true) !== SIG_ZIP64_EOCD)
        throw this.error(`has no ZIP64 end-of-central-directory record at offset ${at}`);
      count = this.u64(at + 32, 'the ZIP64 entry count');
      cdSize = this.u64(at + 40, 'the ZIP64 central directory size');
      cdOffset = this.u64(at + 48, 'the ZIP64 central directory offset');
      cdLimit = at;
    } else if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      throw this.error('needs ZIP64 records, but they are missing');
    }
    if (cdOffset + cdSize > cdLimit)
      throw this.error(
        `central directory (offset ${cdOffset}, ${cdSize} bytes) runs past the end-of-central-directory record at ${cdLimit}: the file is truncated or corrupt`,
      );
    if (count * CENTRAL_HEADER_SIZE > cdSize)
      throw this.error(`claims ${count} entries, more than its ${cdSize}-byte central directory can hold`);
    let at = cdOffset;
    const end = cdOffset + cdSize;
    for (let i = 0; i < count; i++) {
      const entry = this.readCentralHeader(at, end);
      if (this.entries.has(entry.name)) throw this.error(`has two entries named '${printable(entry.name)}'`);
      this.entries.set(entry.name, entry.value);
      at = entry.next;
    }
  }

  private readCentralHeader(at: number, end: number): { name: string; value: ZipEntry; next: number } {
    const v = this.view;
    if (at + CENTRAL_HEADER_SIZE > end || v.getUint32(at, true) !== SIG_CENTRAL)
      throw this.error(`has a corrupt central directory entry at offset ${at}`);
    const nameLength = v.getUint16(at + 28, true);
    const extraLength = v.getUint16(at + 30, true);
    const commentLength = v.getUint16(at + 32, true);
    const next = at + CENTRAL_HEADER_SIZE + nameLength + extraLength + commentLength;
    if (next > end) throw this.error(`central directory entry at offset ${at} runs past the central directory`);
    const nameStart = at + CENTRAL_HEADER_SIZE;
    const name = decodeName(this.bytes.subarray(nameStart, nameStart + nameLength));
    const value: ZipEntry = {
      name,
      flags: v.getUint16(at + 8, true),
      method: v.getUint16(at + 10, true),
      crc32: v.getUint32(at + 16, true),
      compressedSize: v.getUint32(at + 20, true),
      size: v.getUint32(at + 24, true),
      localHeaderOffset: v.getUint32(at + 42, true),
    };
    if (v.getUint16(at + 34, true) !== 0 && v.getUint16(at + 34, true) !== 0xffff)
      throw this.error(`entry '${printable(name)}' lives on another volume of a multi-volume archive`);
    this.applyZip64Extra(value, nameStart + nameLength, extraLength);
    return { name, value, next };
  }

  // The ZIP64 extra field holds, in this order, each of size / compressed size / offset whose
  // 32-bit field is saturated.
  private applyZip64Extra(entry: ZipEntry, start: number, length: number): void {
    const fields = (['size', 'compressedSize', 'localHeaderOffset'] as const).filter((f) => entry[f] === 0xffffffff);
    if (fields.length === 0) return;
    const end = start + length;
    for (let at = start; at + 4 <= end;) {
      const id = this.view.getUint16(at, true);
      const size = this.view.getUint16(at + 2, true);
      if (at + 4 + size > end) break;
      if (id === ZIP64_EXTRA_ID) {
        if (size < 8 * fields.length) break;
        fields.forEach((f, i) => (entry[f] = this.u64(at + 4 + 8 * i, `the ZIP64 ${f} of '${printable(entry.name)}'`)));
        return;
      }
      at += 4 + size;
    }
    throw this.error(`entry '${printable(entry.name)}' lacks the ZIP64 extra field its saturated sizes call for`);
  }

  private findEndOfCentralDirectory(): number {
    const last = this.bytes.length - EOCD_SIZE;
    for (let at = last; at >= 0 && at >= last - MAX_COMMENT; at--) {
      if (
        this.view.getUint32(at, true) === SIG_EOCD &&
        at + EOCD_SIZE + this.view.getUint16(at + 20, true) <= this.bytes.length
      )
        return at;
    }
    throw this.error('is not a zip archive or is truncated: no end-of-central-directory record');
  }

  private u64(at: number, what: string): number {
    this.need(at, 8, what);
    const value = this.view.getBigUint64(at, true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw this.error(`${what} (${value}) is out of range`);
    return Number(value);
  }

  private need(at: number, length: number, what: string): void {
    if (at < 0 || length < 0 || at + length > this.bytes.length)
      throw this.error(
        `${what} (offset ${at}, ${length} bytes) runs past the end of the file (${this.bytes.length} bytes): the file is truncated or corrupt`,
      );
  }

  private error(problem: string): CheckpointError {
    return new CheckpointError(`${this.source} ${problem}`);
  }
}

function decodeName(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8');
}

function hex(n: number): string {
  return '0x' + n.toString(16).padStart(8, '0');
}

/** CRC-32 (zip's polynomial); zlib's native one where Node has it (>= 20.15), else a table loop. */
export function crc32(data: Uint8Array): number {
  const native = (zlib as { crc32?: (d: Uint8Array) => number }).crc32;
  return native ? native(data) : crc32Table(data);
}

let table: Int32Array | undefined;
/** The portable CRC-32, exported for testing against zlib's. */
export function crc32Table(data: Uint8Array): number {
  if (!table) {
    table = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c;
    }
  }
  let crc = -1;
  for (let i = 0; i < data.length; i++) crc = table[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}
