// Image loading that reproduces PyTorch's evaluation pipeline byte for byte:
//   PIL.Image.open(f).convert('RGB') -> torchvision Resize(256) -> CenterCrop(224) -> ToTensor()
// sharp (libvips) only decodes; the resize and crop are done here because libvips' kernels differ from PIL's.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { printable } from './errors';
import { readRegularFile } from './limits';

export interface ImageTransform {
  /** Shorter side after resizing (torchvision Resize(int)); default 256; null = no resize. */
  resize?: number | null;
  /** Side of the centre crop (torchvision CenterCrop(int)); default 224; null = no crop. */
  crop?: number | null;
  /**
   * Largest image decoded, in pixels (width x height); larger files are refused before decoding.
   * Default 100,000,000 (100 megapixels: twice a 50 MP camera's photos, far above every image of
   * the ImageNet suites). Decoding costs 3 bytes per pixel (300 MB at the limit).
   */
  maxPixels?: number;
}

/** Options of where files are looked for (listImageFiles, classFolderFiles). */
export interface ListOptions {
  /** Descend into subfolders (never through symbolic links to folders). Default false. */
  recursive?: boolean;
  /** Follow symbolic links to files outside the folder listed. Default false: such links are skipped. */
  followLinks?: boolean;
}

/** A file that cannot be read or decoded as an image; `file` names it. */
export class ImageFileError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(message);
    this.name = 'ImageFileError';
  }
}

const DEFAULT_RESIZE = 256;
const DEFAULT_CROP = 224;
export const DEFAULT_MAX_PIXELS = 100_000_000;
const MAX_SIDE = 1 << 20;
// Largest output we allocate: a resize without crop of a very elongated image could ask for gigabytes.
const MAX_PIXELS = 1 << 26;
// No image file within maxPixels is larger than its raw pixels: 8 bytes each for 16-bit RGBA, plus headers.
const MAX_FILE_BYTES_PER_PIXEL = 8;
const FILE_HEADER_SLACK = 1 << 20;
// Images decoded at once by loadImageBatch: each can hold 3 * maxPixels bytes while it is resized.
const DECODE_CONCURRENCY = Math.max(1, Math.min(4, os.availableParallelism?.() ?? os.cpus().length));
// Formats PIL reads as well; vector and document formats (SVG, PDF) would be rendered, not decoded.
const DECODED_FORMATS = ['jpeg', 'png', 'webp', 'gif', 'tiff'];
const LISTED_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp'];

// ---------------------------------------------------------------------------------------------------------
// Decoding: RGB uint8 exactly as PIL's .convert('RGB') gives it.

interface RgbImage {
  /** Interleaved RGB, row-major. */
  pixels: Uint8Array;
  width: number;
  height: number;
}

/** The pixel limit was hit: the message says which option lifts it. */
class TooManyPixels extends Error {}

async function decodeFile(fn: string, file: string, maxPixels: number): Promise<RgbImage> {
  const shown = printable(file);
  let bytes: Buffer;
  try {
    const maxFileBytes = maxPixels * MAX_FILE_BYTES_PER_PIXEL + FILE_HEADER_SLACK;
    bytes = await readRegularFile(file, (problem) => new Error(problem), maxFileBytes);
  } catch (e) {
    throw new ImageFileError(file, `${fn}: cannot read image file '${shown}': ${printable((e as Error).message)}`);
  }
  try {
    return await decodeRgb(bytes, maxPixels);
  } catch (e) {
    if (e instanceof TooManyPixels)
      throw new ImageFileError(
        file,
        `${fn}: '${shown}' ${e.message}; if you trust the file, raise the limit with the transform's ` +
          'maxPixels option (lkvit predict: --max-pixels)',
      );
    throw new ImageFileError(file, `${fn}: '${shown}' is not a readable image: ${printable((e as Error).message)}`);
  }
}

async function decodeRgb(bytes: Buffer, maxPixels: number): Promise<RgbImage> {
  // ignoreIcc: PIL does no colour management. No autoOrient: torchvision's loader ignores EXIF orientation.
  // failOn 'error': like PIL, refuse truncated files but decode through recoverable libjpeg warnings.
  // limitInputPixels: libvips' own check, behind the one on the header below.
  const input = () =>
    sharp(bytes, { ignoreIcc: true, failOn: 'error', limitInputPixels: Math.min(maxPixels, Number.MAX_SAFE_INTEGER) });
  const meta = await sharp(bytes, { limitInputPixels: false }).metadata(); // reads the header only
  if (!meta.format || !DECODED_FORMATS.includes(meta.format))
    throw new Error(`format '${meta.format}' is not supported (expected JPEG, PNG, WebP, GIF or TIFF)`);
  // The header's size, checked before any pixel is decoded: a few bytes of lossless WebP or PNG can declare 16383x16383.
  const width = meta.width ?? 0,
    height = meta.pageHeight ?? meta.height ?? 0;
  if (width * height > maxPixels)
    throw new TooManyPixels(
      `is ${width}x${height} = ${(width * height).toLocaleString('en-US')} pixels, more than maxPixels = ${maxPixels.toLocaleString('en-US')}`,
    );

  if (meta.space === 'cmyk') {
    // libvips would colour-manage CMYK through an ICC profile; PIL uses a plain formula.
    const { data, info } = await input()
      .pipelineColourspace('cmyk')
      .toColourspace('cmyk')
      .raw()
      .toBuffer({ resolveWithObject: true });
    return { pixels: cmykToRgb(checkRaw(data, info, [4])), width: info.width, height: info.height };
  }
  if (meta.format === 'png' && isGrey16Png(bytes)) {
    // PIL opens these as mode 'I' and .convert('RGB') clips at 255 (libvips would keep the high byte).
    // A tRNS chunk makes libvips add an alpha band (channels 2); PIL ignores it here.
    const { data, info } = await input()
      .toColourspace('grey16')
      .raw({ depth: 'ushort' })
      .toBuffer({ resolveWithObject: true });
    return {
      pixels: clippedGreyToRgb(checkRaw(data, info, [1, 2], 2), info.channels),
      width: info.width,
      height: info.height,
    };
  }
  // Everything else (8-bit, palette, 1-bit, 16-bit colour) matches PIL: alpha dropped without compositing,
  // grey replicated, palette expanded, 16-bit reduced to the high byte.
  const { data, info } = await input().removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { pixels: checkRaw(data, info, [3]), width: info.width, height: info.height };
}

/** Guards the typed-array loops below against a decoder result of unexpected layout. */
function checkRaw(
  data: Buffer,
  info: { width: number; height: number; channels: number },
  channels: number[],
  bytesPerSample = 1,
): Buffer {
  if (!channels.includes(info.channels) || data.length !== info.width * info.height * info.channels * bytesPerSample)
    throw new Error(
      `decoder returned ${info.channels} channels, ${data.length} bytes for ${info.width}x${info.height}`,
    );
  return data;
}

/** 16-bit greyscale PNG (IHDR bit depth 16, colour type 0), whatever tRNS says. */
function isGrey16Png(bytes: Buffer): boolean {
  return bytes.length >= 26 && bytes.toString('latin1', 12, 16) === 'IHDR' && bytes[24] === 16 && bytes[25] === 0;
}

function clippedGreyToRgb(data: Buffer, channels: number): Uint8Array {
  // Copy first: the view must be 2-byte aligned; libvips writes native-endian samples.
  const samples = new Uint16Array(Uint8Array.from(data).buffer);
  const n = samples.length / channels;
  const rgb = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const v = Math.min(samples[i * channels], 255);
    rgb[i * 3] = rgb[i * 3 + 1] = rgb[i * 3 + 2] = v;
  }
  return rgb;
}

/** PIL's cmyk2rgb: channel = (255 - k) - muldiv255(c, 255 - k), in its integer arithmetic. */
function cmykToRgb(cmyk: Uint8Array): Uint8Array {
  const n = cmyk.length / 4;
  const rgb = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const notK = 255 - cmyk[i * 4 + 3];
    for (let c = 0; c < 3; c++) {
      const t = cmyk[i * 4 + c] * notK + 128;
      rgb[i * 3 + c] = notK - (((t >> 8) + t) >> 8); // never negative: muldiv255(c, nk) <= nk
    }
  }
  return rgb;
}

// ---------------------------------------------------------------------------------------------------------
// PIL's bilinear resampler (libImaging/Resample.c), 8-bit path.

const PRECISION_BITS = 22;
const ONE = 1 << PRECISION_BITS;
const HALF = 1 << (PRECISION_BITS - 1);

/** Per output index: the first input index, the tap count, and fixed-point weights (ksize per output). */
interface Coeffs {
  first: Int32Array;
  taps: Int32Array;
  weights: Int32Array;
  ksize: number;
}

function bilinear(x: number): number {
  const a = Math.abs(x);
  return a < 1 ? 1 - a : 0;
}

/** precompute_coeffs + normalize_coeffs_8bpc for outputs [start, start + count) of an inSize -> outSize axis. */
function bilinearCoeffs(inSize: number, outSize: number, start: number, count: number): Coeffs {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1); // > 1 when shrinking: the widened triangle is PIL's antialiasing
  const support = 1.0 * filterScale; // bilinear's support is 1
  const ksize = Math.ceil(support) * 2 + 1;
  const ss = 1.0 / filterScale;
  const first = new Int32Array(count),
    taps = new Int32Array(count),
    weights = new Int32Array(count * ksize);
  const w = new Float64Array(ksize);
  for (let i = 0; i < count; i++) {
    const center = (start + i + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const n = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let sum = 0;
    for (let x = 0; x < n; x++) {
      w[x] = bilinear((x + xmin - center + 0.5) * ss);
      sum += w[x];
    }
    for (let x = 0; x < n; x++) {
      const k = sum !== 0 ? w[x] / sum : w[x];
      weights[i * ksize + x] = k < 0 ? Math.trunc(-0.5 + k * ONE) : Math.trunc(0.5 + k * ONE);
    }
    first[i] = xmin;
    taps[i] = n;
  }
  return { first, taps, weights, ksize };
}

/** An unchanged axis: PIL skips the pass; one tap of weight 1 gives the same bytes and crops the window. */
function identityCoeffs(start: number, count: number): Coeffs {
  const first = new Int32Array(count).map((_, i) => start + i);
  return { first, taps: new Int32Array(count).fill(1), weights: new Int32Array(count).fill(ONE), ksize: 1 };
}

function axisCoeffs(inSize: number, outSize: number, start: number, count: number): Coeffs {
  return inSize === outSize ? identityCoeffs(start, count) : bilinearCoeffs(inSize, outSize, start, count);
}

/**
 * One resampling pass along the middle axis of src viewed as [outer, inLen, inner]: the horizontal pass has
 * inner = channels, the vertical pass inner = row length. Fixed-point sums start at 1/2 and are clipped to 0..255.
 */
function resampleAxis(src: Uint8Array, outer: number, inLen: number, inner: number, c: Coeffs): Uint8Array {
  const count = c.first.length;
  const dst = new Uint8Array(outer * count * inner);
  const acc = new Float64Array(inner); // integer sums stay exact in doubles
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < count; i++) {
      acc.fill(HALF);
      for (let t = 0; t < c.taps[i]; t++) {
        const k = c.weights[i * c.ksize + t];
        const base = (o * inLen + c.first[i] + t) * inner;
        for (let j = 0; j < inner; j++) acc[j] += src[base + j] * k;
      }
      const out = (o * count + i) * inner;
      for (let j = 0; j < inner; j++) {
        const v = Math.floor(acc[j] / ONE);
        dst[out + j] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    }
  }
  return dst;
}

/**
 * The window [x0, x0 + w) x [y0, y0 + h) of the image resized to newWidth x newHeight. Every output pixel
 * depends only on its own coefficients, so this equals resizing everything and cropping, with less work.
 */
function resizeWindow(
  src: Uint8Array,
  width: number,
  height: number,
  channels: number,
  newWidth: number,
  newHeight: number,
  x0: number,
  y0: number,
  w: number,
  h: number,
): Uint8Array {
  const vertical = axisCoeffs(height, newHeight, y0, h);
  // The horizontal pass only runs over the source rows the vertical pass reads.
  const rowFirst = vertical.first[0];
  const rowEnd = vertical.first[h - 1] + vertical.taps[h - 1];
  for (let i = 0; i < h; i++) vertical.first[i] -= rowFirst;
  const horizontal = axisCoeffs(width, newWidth, x0, w);
  const rows = src.subarray(rowFirst * width * channels, rowEnd * width * channels);
  const narrowed = resampleAxis(rows, rowEnd - rowFirst, width, channels, horizontal);
  return resampleAxis(narrowed, 1, rowEnd - rowFirst, w * channels, vertical);
}

/**
 * PIL's Image.resize(size, BILINEAR) on interleaved uint8 pixels (1 to 4 channels, none treated as alpha):
 * triangle filter widened by the shrink factor, separable passes (horizontal then vertical) through uint8,
 * weights normalised in double and rounded to 22 fractional bits. Output bytes equal PIL 9.4's.
 */
export function resizeBilinearU8(
  src: Uint8Array,
  width: number,
  height: number,
  channels: number,
  newWidth: number,
  newHeight: number,
): Uint8Array {
  const fn = 'resizeBilinearU8';
  if (!(src instanceof Uint8Array)) throw new TypeError(`${fn}: src must be a Uint8Array, got ${describe(src)}`);
  checkSide(fn, 'width', width);
  checkSide(fn, 'height', height);
  if (typeof channels !== 'number' || !Number.isInteger(channels) || channels < 1 || channels > 4)
    throw new RangeError(`${fn}: channels must be an integer in [1, 4], got ${describe(channels)}`);
  checkSide(fn, 'newWidth', newWidth);
  checkSide(fn, 'newHeight', newHeight);
  if (src.length !== width * height * channels)
    throw new RangeError(
      `${fn}: src has ${src.length} bytes, expected width*height*channels = ${width * height * channels}`,
    );
  checkPixels(fn, `a ${newWidth}x${newHeight} output`, newWidth * newHeight);
  return resizeWindow(src, width, height, channels, newWidth, newHeight, 0, 0, newWidth, newHeight);
}

// ---------------------------------------------------------------------------------------------------------
// torchvision's Resize(int) and CenterCrop(int) geometry.

/** Shorter side -> size, longer side -> int(size * long / short) (truncated, as torchvision does). */
function resizedSize(width: number, height: number, size: number): [number, number] {
  const long = Math.trunc((size * Math.max(width, height)) / Math.min(width, height));
  return width <= height ? [size, long] : [long, size];
}

/** Python's round() of k / 2: halves go to the even neighbour. */
function roundHalfEvenHalf(k: number): number {
  const q = Math.floor(k / 2);
  return k % 2 === 0 || q % 2 === 0 ? q : q + 1;
}

/**
 * Where CenterCrop's window starts along an axis of `size` pixels. When the crop is larger, torchvision pads
 * (crop - size) // 2 zeros before (and the rest after) and crops at 0: the start is then negative.
 */
function cropStart(size: number, crop: number): number {
  return crop > size ? -Math.floor((crop - size) / 2) : roundHalfEvenHalf(size - crop);
}

/** ToTensor's uint8 -> float32 (x / 255 rounded to float32, as torch divides). */
const BYTE_TO_UNIT = Float32Array.from({ length: 256 }, (_, i) => i / 255);

/**
 * Decodes one image file like PIL's .convert('RGB') (alpha dropped, greyscale/palette expanded, 16-bit
 * reduced as PIL does, no EXIF rotation, no ICC colour management), applies torchvision's Resize and
 * CenterCrop, and returns ToTensor's [3, H, W] float32 in [0, 1]. Normalisation is left to the model.
 */
export async function loadImage(
  path: string,
  transform?: ImageTransform,
): Promise<{ data: Float32Array; shape: [3, number, number] }> {
  return loadOne('loadImage', path, checkTransform('loadImage', transform));
}

type CheckedTransform = { resize: number | null; crop: number | null; maxPixels: number };

async function loadOne(
  fn: string,
  file: string,
  t: CheckedTransform,
): Promise<{ data: Float32Array; shape: [3, number, number] }> {
  if (typeof file !== 'string' || file === '')
    throw new TypeError(`${fn}: path must be a non-empty string, got ${describe(file)}`);
  const img = await decodeFile(fn, file, t.maxPixels);
  const [rw, rh] = t.resize === null ? [img.width, img.height] : resizedSize(img.width, img.height, t.resize);
  const [outW, outH] = t.crop === null ? [rw, rh] : [t.crop, t.crop];
  checkPixels(fn, `'${printable(file)}' after the transform (${outW}x${outH})`, outW * outH);
  const left = t.crop === null ? 0 : cropStart(rw, t.crop);
  const top = t.crop === null ? 0 : cropStart(rh, t.crop);
  // The part of the crop inside the resized image; the rest is torchvision's zero padding.
  const x0 = Math.max(left, 0),
    x1 = Math.min(left + outW, rw);
  const y0 = Math.max(top, 0),
    y1 = Math.min(top + outH, rh);
  const inside = resizeWindow(img.pixels, img.width, img.height, 3, rw, rh, x0, y0, x1 - x0, y1 - y0);

  const data = new Float32Array(3 * outH * outW);
  const w = x1 - x0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const from = ((y - y0) * w + (x - x0)) * 3;
      const to = (y - top) * outW + (x - left);
      for (let c = 0; c < 3; c++) data[c * outH * outW + to] = BYTE_TO_UNIT[inside[from + c]];
    }
  }
  return { data, shape: [3, outH, outW] };
}

/**
 * Loads several files into one [N, 3, H, W] batch; they must all come out the same size (a crop ensures it).
 * At most `concurrency` files (default: the CPU count, at most 4) are decoded at once, which bounds
 * the memory a batch of large images takes.
 */
export async function loadImageBatch(
  paths: string[],
  transform?: ImageTransform,
  options?: { concurrency?: number },
): Promise<{ data: Float32Array; shape: [number, 3, number, number] }> {
  const fn = 'loadImageBatch';
  if (!Array.isArray(paths) || paths.length === 0)
    throw new TypeError(`${fn}: paths must be a non-empty array of file paths, got ${describe(paths)}`);
  const t = checkTransform(fn, transform);
  const { concurrency = DECODE_CONCURRENCY } = checkOptions(fn, 'options', options, ['concurrency']);
  if (!Number.isInteger(concurrency) || (concurrency as number) < 1)
    throw new RangeError(`${fn}: options.concurrency must be an integer >= 1, got ${describe(concurrency)}`);
  const images = await mapWithConcurrency(paths, concurrency as number, (p) => loadOne(fn, p, t));
  const [, h, w] = images[0].shape;
  images.forEach((img, i) => {
    if (img.shape[1] !== h || img.shape[2] !== w)
      throw new RangeError(
        `${fn}: '${printable(paths[i])}' is ${img.shape.join('x')} after the transform but '${printable(paths[0])}' is 3x${h}x${w}; ` +
          'use a crop so that all images have the same size',
      );
  });
  const data = new Float32Array(images.length * 3 * h * w);
  images.forEach((img, i) => data.set(img.data, i * 3 * h * w));
  return { data, shape: [images.length, 3, h, w] };
}

/** Promise.all over `items` with at most `limit` calls in flight; the first failure stops new calls. */
async function mapWithConcurrency<T, R>(items: T[], limit: number, f: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        out[i] = await f(items[i]);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Finding image files.

/**
 * Image files under a path or paths, in argument order: a file is taken as is (it must be a regular
 * file); a directory gives its *.jpg/*.jpeg/*.png/*.webp files (any case), sorted by path,
 * descending into subdirectories only with { recursive: true }. Only regular files are listed
 * (never FIFOs, sockets or devices), and a symbolic link is listed only when its target is a
 * regular file inside the directory given, unless { followLinks: true }. Throws if a path does not
 * exist or nothing is found.
 */
export function listImageFiles(pathOrPaths: string | string[], options?: ListOptions): string[] {
  const fn = 'listImageFiles';
  const paths = typeof pathOrPaths === 'string' ? [pathOrPaths] : pathOrPaths;
  if (!Array.isArray(paths) || paths.length === 0 || !paths.every((p) => typeof p === 'string' && p !== ''))
    throw new TypeError(
      `${fn}: pathOrPaths must be a path or a non-empty array of paths, got ${describe(pathOrPaths)}`,
    );
  const { recursive, followLinks } = checkListOptions(fn, options);
  const found: string[] = [];
  const skipped: string[] = [];
  for (const p of paths) {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(p);
    } catch (e) {
      throw new Error(`${fn}: cannot access '${printable(p)}': ${printable((e as Error).message)}`, { cause: e });
    }
    if (stat.isDirectory()) found.push(...imagesInFolder(fn, p, { recursive, followLinks, skipped }).sort(byCodeUnits));
    else if (stat.isFile()) found.push(p);
    else throw new Error(`${fn}: '${printable(p)}' is not a regular file or a folder; lkvit reads only regular files`);
  }
  if (found.length === 0) {
    const where = paths.map((p) => `'${printable(p)}'`).join(', ');
    const hint = recursive ? '' : ' (subdirectories are searched only with { recursive: true })';
    throw new Error(
      `${fn}: no image files (${LISTED_EXTENSIONS.map((e) => '*' + e).join(', ')}) in ${where}${hint}${skippedNote(skipped)}`,
    );
  }
  return found;
}

/** Why a listing came out empty when links were skipped. */
export function skippedNote(skipped: string[]): string {
  if (skipped.length === 0) return '';
  return (
    `; ${skipped.length} symbolic link(s) pointing outside the folder were skipped (e.g. '${printable(skipped[0])}'): ` +
    'pass { followLinks: true } to follow them (lkvit predict: --follow-links)'
  );
}

export function checkListOptions(
  fn: string,
  options: unknown,
  extra: string[] = [],
): Required<ListOptions> & Record<string, unknown> {
  const o = checkOptions(fn, 'options', options, ['recursive', 'followLinks', ...extra]);
  const { recursive = false, followLinks = false } = o;
  for (const [name, v] of [
    ['recursive', recursive],
    ['followLinks', followLinks],
  ] as const)
    if (typeof v !== 'boolean') throw new TypeError(`${fn}: options.${name} must be a boolean, got ${describe(v)}`);
  return { ...o, recursive: recursive as boolean, followLinks: followLinks as boolean };
}

/**
 * The image files of `dir` (unsorted). Links are resolved: kept when the target is a regular file
 * inside `within` (default `dir` itself) or when followLinks; the others are added to `skipped`.
 * Links to folders are never descended into, so a link cycle cannot loop.
 */
export function imagesInFolder(
  fn: string,
  dir: string,
  o: { recursive: boolean; followLinks: boolean; skipped: string[]; within?: string },
): string[] {
  let entries: fs.Dirent[];
  let boundary: string;
  try {
    boundary = fs.realpathSync(o.within ?? dir);
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    throw new Error(`${fn}: cannot list directory '${printable(dir)}': ${printable((e as Error).message)}`, {
      cause: e,
    });
  }
  const files: string[] = [];
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (o.recursive) files.push(...imagesInFolder(fn, full, { ...o, within: boundary }));
    } else if (LISTED_EXTENSIONS.includes(path.extname(entry.name).toLowerCase())) {
      if (entry.isFile()) files.push(full);
      else if (entry.isSymbolicLink() && linkedFileAllowed(full, boundary, o.followLinks, o.skipped)) files.push(full);
    }
  }
  return files;
}

function linkedFileAllowed(link: string, boundary: string, followLinks: boolean, skipped: string[]): boolean {
  let target: string;
  try {
    target = fs.realpathSync(link);
    if (!fs.statSync(target).isFile()) return false; // a FIFO, device or folder behind the link
  } catch {
    return false; // a dangling link or a loop
  }
  const inside = target.startsWith(boundary.endsWith(path.sep) ? boundary : boundary + path.sep);
  if (inside || followLinks) return true;
  skipped.push(link);
  return false;
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------------------
// Argument checks.

function checkTransform(fn: string, transform: unknown): CheckedTransform {
  const t = checkOptions(fn, 'transform', transform, ['resize', 'crop', 'maxPixels']);
  const side = (name: 'resize' | 'crop', fallback: number): number | null => {
    const v = t[name];
    if (v === undefined) return fallback;
    if (v === null) return null;
    checkSide(fn, `transform.${name}`, v);
    return v as number;
  };
  const { maxPixels = DEFAULT_MAX_PIXELS } = t;
  if (typeof maxPixels !== 'number' || !(maxPixels >= 1))
    throw new RangeError(
      `${fn}: transform.maxPixels must be a number >= 1 (Infinity for no limit), got ${describe(maxPixels)}`,
    );
  return { resize: side('resize', DEFAULT_RESIZE), crop: side('crop', DEFAULT_CROP), maxPixels };
}

function checkSide(fn: string, name: string, v: unknown): void {
  if (typeof v !== 'number') throw new TypeError(`${fn}: ${name} must be a positive integer, got ${describe(v)}`);
  if (!Number.isInteger(v) || v < 1 || v > MAX_SIDE)
    throw new RangeError(`${fn}: ${name} must be a positive integer (at most ${MAX_SIDE}), got ${describe(v)}`);
}

function checkPixels(fn: string, what: string, pixels: number): void {
  if (pixels > MAX_PIXELS)
    throw new RangeError(`${fn}: ${what} has ${pixels} pixels, more than the limit ${MAX_PIXELS}`);
}

/** `opts` must be undefined or a plain object with only `allowed` keys. */
function checkOptions(fn: string, name: string, opts: unknown, allowed: string[]): Record<string, unknown> {
  if (opts === undefined) return {};
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts))
    throw new TypeError(`${fn}: ${name} must be an object, got ${describe(opts)}`);
  for (const k of Object.keys(opts)) {
    if (!allowed.includes(k))
      throw new TypeError(`${fn}: unknown ${name} key '${k}' (expected one of: ${allowed.join(', ')})`);
  }
  return opts as Record<string, unknown>;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '...' : v);
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'an object';
  return String(v);
}
