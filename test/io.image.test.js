// Image loading against PIL 9.4 / torch 1.13: decode (.convert('RGB')), PIL's bilinear resampler, and the
// whole torchvision evaluation transform. References come from test/fixtures/make_image_fixtures.py.
'use strict';
const test = require('ava');
const fs = require('fs');
const os = require('os');
const path = require('path');
const sharp = require('sharp');
const { loadImage, loadImageBatch, listImageFiles, resizeBilinearU8, ImageFileError } = require('../lib/io/image');

const DIR = path.join(__dirname, 'fixtures', 'images');
const manifest = JSON.parse(fs.readFileSync(path.join(DIR, 'manifest.json'), 'utf8'));
const expected = fs.readFileSync(path.join(DIR, 'expected.bin'));
const bytesAt = (offset, length) => expected.subarray(offset, offset + length);
// torch's uint8 -> float32 .div(255) for every byte value
const TORCH_TO_TENSOR = new Float32Array(Uint8Array.from(bytesAt(manifest.to_tensor_f32le, 1024)).buffer);
const fixture = (name) => path.join(DIR, name);

// JPEG: the decoder in sharp (mozjpeg) and PIL's (libjpeg-turbo 2.1.5) share their IDCT and upsampling code;
// measured on the fixtures (4:4:4, 4:2:2, 4:2:0, progressive, greyscale, CMYK, corrupt scan data) and on
// 20 photo-like JPEGs of 60-900 px through the whole pipeline, the largest difference is 0.
const JPEG_MAX_BYTE_DIFF = 0;

/** Compares a [3, H, W] float result with uint8 expectations; `at(c, y, x)` gives the expected byte. */
function compare(got, shape, at) {
  const [, h, w] = shape;
  let maxByteDiff = 0,
    floatMismatches = 0,
    first = null;
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const g = got[(c * h + y) * w + x],
          want = at(c, y, x);
        if (g !== TORCH_TO_TENSOR[want]) {
          floatMismatches++;
          first = first ?? `first at c=${c} y=${y} x=${x}: got ${g * 255}, want ${want}`;
        }
        maxByteDiff = Math.max(maxByteDiff, Math.abs(Math.round(g * 255) - want));
      }
    }
  }
  return { maxByteDiff, floatMismatches, first };
}

function firstDifference(got, want) {
  if (got.length !== want.length) return `length ${got.length} vs ${want.length}`;
  const i = got.findIndex((v, k) => v !== want[k]);
  return i < 0 ? null : `byte ${i}: got ${got[i]}, want ${want[i]}`;
}

for (const c of manifest.decode) {
  test(`decode ${c.file} (PIL mode ${c.pil_mode}: ${c.note})`, async (t) => {
    const got = await loadImage(fixture(c.file), { resize: null, crop: null });
    t.deepEqual(got.shape, [3, c.height, c.width]);
    const want = bytesAt(c.offset, c.width * c.height * 3);
    const r = compare(got.data, got.shape, (ch, y, x) => want[(y * c.width + x) * 3 + ch]);
    const tolerance = /\.jpe?g$/i.test(c.file) ? JPEG_MAX_BYTE_DIFF : 0;
    t.true(r.maxByteDiff <= tolerance, `max byte difference ${r.maxByteDiff} > ${tolerance}`);
    if (tolerance === 0) t.is(r.floatMismatches, 0, r.first ?? ''); // exact bytes, and /255 exactly as torch
  });
}

test('the ICC fixtures would decode differently if the profile were applied', async (t) => {
  for (const name of ['icc.png', 'icc.jpg']) {
    const c = manifest.decode.find((d) => d.file === name);
    const managed = await sharp(fixture(name)).removeAlpha().toColourspace('srgb').raw().toBuffer();
    const want = bytesAt(c.offset, c.width * c.height * 3);
    t.true(
      managed.some((v, i) => Math.abs(v - want[i]) > 20),
      `${name}: profile has no visible effect`,
    );
  }
});

test('the EXIF fixture carries orientation 6 and comes out unrotated, as with PIL', async (t) => {
  const meta = await sharp(fixture('exif_rotated.jpeg')).metadata();
  t.is(meta.orientation, 6);
  const got = await loadImage(fixture('exif_rotated.jpeg'), { resize: null, crop: null });
  t.deepEqual(got.shape, [3, 40, 64]);
});

for (const c of manifest.transform) {
  const isDefault = c.resize === 256 && c.crop === 224;
  test(`transform ${c.file} resize=${c.resize} crop=${c.crop}${isDefault ? ' (defaults)' : ''}: ${c.why}`, async (t) => {
    const got = isDefault
      ? await loadImage(fixture(c.file))
      : await loadImage(fixture(c.file), { resize: c.resize, crop: c.crop });
    t.deepEqual(got.shape, c.shape);
    const [, h, w] = c.shape;
    const want = bytesAt(c.offset, 3 * h * w);
    const r = compare(got.data, got.shape, (ch, y, x) => want[(ch * h + y) * w + x]);
    t.is(r.floatMismatches, 0, r.first ?? '');
  });
}

test('resizeBilinearU8 equals PIL Image.resize(BILINEAR) byte for byte', (t) => {
  t.true(manifest.resize.length >= 30);
  for (const c of manifest.resize) {
    const src = Uint8Array.from(bytesAt(c.input, c.width * c.height * c.channels));
    const want = bytesAt(c.output, c.newWidth * c.newHeight * c.channels);
    const got = resizeBilinearU8(src, c.width, c.height, c.channels, c.newWidth, c.newHeight);
    const diff = firstDifference(got, want);
    t.is(diff, null, `${c.mode} ${c.width}x${c.height} -> ${c.newWidth}x${c.newHeight}: ${diff}`);
  }
});

test('loadImageBatch stacks the transformed images', async (t) => {
  const names = ['rgb.png', 'rgba.png', 'q420.jpg'];
  const batch = await loadImageBatch(names.map(fixture), { resize: 48, crop: 40 });
  t.deepEqual(batch.shape, [3, 3, 40, 40]);
  names.forEach((name, n) => {
    const c = manifest.transform.find((d) => d.file === name && d.resize === 48 && d.crop === 40);
    const want = bytesAt(c.offset, 3 * 40 * 40);
    const r = compare(
      batch.data.subarray(n * 4800, (n + 1) * 4800),
      [3, 40, 40],
      (ch, y, x) => want[(ch * 40 + y) * 40 + x],
    );
    t.is(r.floatMismatches, 0, `${name}: ${r.first}`);
  });
});

test('loadImageBatch names the file whose size differs', async (t) => {
  const err = await t.throwsAsync(
    loadImageBatch([fixture('rgb.png'), fixture('rgba.png')], { resize: null, crop: null }),
    { instanceOf: RangeError },
  );
  t.regex(err.message, /rgba\.png' is 3x61x45 after the transform but '.*rgb\.png' is 3x45x61/);
  await t.throwsAsync(loadImageBatch([]), { instanceOf: TypeError, message: /non-empty array/ });
  await t.throwsAsync(loadImageBatch('rgb.png'), { instanceOf: TypeError });
});

test('a huge resize with a crop only computes the crop', async (t) => {
  // resizing 61x45 to 135555x100000 in full would need 40 GB; the window is 8x8
  const got = await loadImage(fixture('rgb.png'), { resize: 100000, crop: 8 });
  t.deepEqual(got.shape, [3, 8, 8]);
  t.true(got.data.every((v) => v >= 0 && v <= 1));
  await t.throwsAsync(loadImage(fixture('rgb.png'), { resize: 100000, crop: null }), {
    instanceOf: RangeError,
    message: /rgb\.png' after the transform \(135555x100000\).*more than the limit/,
  });
});

test('bad files: a clear error naming the file', async (t) => {
  const missing = fixture('does_not_exist.png');
  let err = await t.throwsAsync(loadImage(missing), { instanceOf: ImageFileError });
  t.true(err.message.includes(`cannot read image file '${missing}'`), err.message);
  t.is(err.file, missing);
  for (const name of ['not_an_image.jpg', 'truncated.jpg', 'truncated.png']) {
    err = await t.throwsAsync(loadImage(fixture(name)), { instanceOf: ImageFileError });
    t.true(err.message.includes(`'${fixture(name)}' is not a readable image`), err.message);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lkvit-img-'));
  try {
    const svg = path.join(dir, 'drawing.svg');
    fs.writeFileSync(
      svg,
      '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8" height="8"/></svg>',
    );
    err = await t.throwsAsync(loadImage(svg, { resize: null, crop: null }), { instanceOf: ImageFileError });
    t.regex(err.message, /format 'svg' is not supported/);
    err = await t.throwsAsync(loadImage(dir), { instanceOf: ImageFileError }); // a directory
    t.true(err.message.includes(dir));
  } finally {
    fs.rmSync(dir, { recursive: true });
  }
});

test('bad arguments: TypeError for wrong types, RangeError for bad values', async (t) => {
  const png = fixture('rgb.png');
  for (const bad of [0, -1, 1.5, NaN, Infinity, 2 ** 21]) {
    await t.throwsAsync(loadImage(png, { resize: bad }), {
      instanceOf: RangeError,
      message: /transform\.resize must be a positive integer/,
    });
    await t.throwsAsync(loadImage(png, { crop: bad }), {
      instanceOf: RangeError,
      message: /transform\.crop must be a positive integer/,
    });
  }
  await t.throwsAsync(loadImage(png, { resize: '48' }), { instanceOf: TypeError, message: /transform\.resize/ });
  await t.throwsAsync(loadImage(png, { size: 48 }), { instanceOf: TypeError, message: /unknown transform key 'size'/ });
  await t.throwsAsync(loadImage(png, 48), { instanceOf: TypeError, message: /transform must be an object/ });
  await t.throwsAsync(loadImage(42), { instanceOf: TypeError, message: /path must be a non-empty string/ });

  const src = new Uint8Array(4 * 3 * 3);
  t.throws(() => resizeBilinearU8(Array.from(src), 4, 3, 3, 2, 2), {
    instanceOf: TypeError,
    message: /src must be a Uint8Array/,
  });
  t.throws(() => resizeBilinearU8(src, 4, 4, 3, 2, 2), {
    instanceOf: RangeError,
    message: /src has 36 bytes, expected .* 48/,
  });
  t.throws(() => resizeBilinearU8(src.subarray(0, 30), 2, 3, 5, 2, 2), { instanceOf: RangeError, message: /channels/ });
  t.throws(() => resizeBilinearU8(src, 4, 3, 3, 0, 2), { instanceOf: RangeError, message: /newWidth/ });
  t.throws(() => resizeBilinearU8(src, 4, 3, 3, 2, 2.5), { instanceOf: RangeError, message: /newHeight/ });
});

// What the fixture directory holds with a listed extension (written by make_image_fixtures.py), in code-unit order.
const LISTED = [
  'SHOUTY.PNG',
  'big.png',
  'bilevel.png',
  'cmyk.jpg',
  'corrupt_scan.jpg',
  'exif_rotated.jpeg',
  'grey.jpg',
  'grey.png',
  'grey16.png',
  'grey16_trns.png',
  'grey_alpha.png',
  'grey_alpha16.png',
  'icc.jpg',
  'icc.png',
  'levels.png',
  'lossless.webp',
  'lossless_alpha.webp',
  'lossy.webp',
  'not_an_image.jpg',
  'palette.png',
  'palette_trns.png',
  'progressive.jpg',
  'q420.jpg',
  'q422.jpg',
  'q444.jpg',
  'rgb.png',
  'rgb16.png',
  'rgba.png',
  'rgba16.png',
  'truncated.jpg',
  'truncated.png',
];

test('listImageFiles: a directory, sorted, only listed extensions, recursive on request', (t) => {
  t.deepEqual(listImageFiles(DIR), LISTED.map(fixture));
  const recursive = [...LISTED.slice(0, 18), 'nested/inner.png', ...LISTED.slice(18)];
  t.deepEqual(
    listImageFiles(DIR, { recursive: true }),
    recursive.map((n) => path.join(DIR, n)),
  );
  // a file is taken as is (even with another extension), arrays keep argument order
  t.deepEqual(listImageFiles(fixture('palette.gif')), [fixture('palette.gif')]);
  t.deepEqual(listImageFiles([fixture('rgb.png'), path.join(DIR, 'nested')]), [
    fixture('rgb.png'),
    path.join(DIR, 'nested', 'inner.png'),
  ]);
});

test('listImageFiles: clear errors', (t) => {
  const missing = path.join(DIR, 'no_such_dir');
  t.throws(() => listImageFiles(missing), { message: new RegExp(`cannot access '${missing}'`) });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lkvit-list-'));
  try {
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'x');
    fs.mkdirSync(path.join(dir, 'sub'));
    fs.copyFileSync(fixture('rgb.png'), path.join(dir, 'sub', 'a.png'));
    t.throws(() => listImageFiles(dir), {
      message: /no image files \(\*\.jpg, \*\.jpeg, \*\.png, \*\.webp\) in .*only with \{ recursive: true \}/,
    });
    t.deepEqual(listImageFiles(dir, { recursive: true }), [path.join(dir, 'sub', 'a.png')]);
  } finally {
    fs.rmSync(dir, { recursive: true });
  }
  t.throws(() => listImageFiles(42), { instanceOf: TypeError });
  t.throws(() => listImageFiles([]), { instanceOf: TypeError });
  t.throws(() => listImageFiles(DIR, { recursive: 'yes' }), {
    instanceOf: TypeError,
    message: /recursive must be a boolean/,
  });
  t.throws(() => listImageFiles(DIR, { deep: true }), { instanceOf: TypeError, message: /unknown options key 'deep'/ });
});
