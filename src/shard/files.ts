// The files a merge reads come from other machines: each is opened once, must be a regular file of
// bounded size, and is read whole from that one descriptor (no FIFO can hang it, no device fill memory,
// no link swapped in between a check and the read). Errors name the file, never its contents.
import * as fs from 'fs';
import * as path from 'path';
import * as buffer from 'buffer';
import { createHash } from 'crypto';

/** Why a file cannot be used (the caller wraps it in its own error class). */
export class UnsafeFileError extends Error {}

/**
 * Reads `file` whole if it is a regular file of at most `maxBytes`. `follow` false refuses a symbolic
 * link (for files named inside a shard report); FIFOs, sockets and devices are refused either way.
 */
export function readRegularFile(file: string, maxBytes: number, follow: boolean): Buffer {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO does not wait for a writer; fstat then refuses it.
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | (follow ? 0 : fs.constants.O_NOFOLLOW));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UnsafeFileError(
      code === 'ELOOP'
        ? 'is a symbolic link (only regular files are read)'
        : code === 'ENOENT'
          ? 'does not exist'
          : `cannot be opened (${code ?? 'error'})`,
    );
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw new UnsafeFileError(`is not a regular file (${kindOf(stat)})`);
    if (stat.size > Math.min(maxBytes, buffer.constants.MAX_LENGTH))
      throw new UnsafeFileError(
        `has ${stat.size} bytes, more than the ${Math.min(maxBytes, buffer.constants.MAX_LENGTH)} allowed`,
      );
    const bytes = Buffer.alloc(stat.size);
    let at = 0;
    while (at < bytes.length) {
      // One read call stops short of 2 GiB: read in 1 GiB parts.
      const n = fs.readSync(fd, bytes, at, Math.min(bytes.length - at, 2 ** 30), at);
      if (n === 0) break;
      at += n;
    }
    if (at !== bytes.length) throw new UnsafeFileError(`changed while it was read (${at} of ${bytes.length} bytes)`);
    return bytes;
  } finally {
    fs.closeSync(fd);
  }
}

function kindOf(s: fs.Stats): string {
  return s.isDirectory()
    ? 'a folder'
    : s.isFIFO()
      ? 'a FIFO'
      : s.isCharacterDevice() || s.isBlockDevice()
        ? 'a device'
        : s.isSocket()
          ? 'a socket'
          : s.isSymbolicLink()
            ? 'a symbolic link'
            : 'not a plain file';
}

/**
 * The file a report names as `name`, inside the report's folder `dir`: a plain file name (no folder
 * separators, not '.' or '..', no control characters), or null when it is not one.
 */
export function fileInFolder(dir: string, name: unknown): string | null {
  if (
    typeof name !== 'string' ||
    name.length === 0 ||
    name.length > 255 ||
    name === '.' ||
    name === '..' ||
    /[/\\\x00-\x1f\x7f-\x9f]/.test(name)
  )
    return null;
  return path.join(dir, name);
}

/** A path as messages print it: control characters (terminal escapes) as \xNN. */
export function shown(p: string): string {
  return p.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** SHA-256 (hex) of bytes. */
export function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** SHA-256 (hex) of a file, read in chunks (x_adv files can be gigabytes). */
export function sha256FileSync(file: string): string {
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const chunk = Buffer.alloc(1 << 20);
    for (let n; (n = fs.readSync(fd, chunk, 0, chunk.length, null)) > 0;) hash.update(chunk.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}
