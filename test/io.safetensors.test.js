// safetensors reading and writing against files written by test/fixtures/make_io_fixtures.py
// (values converted to float32 by torch), plus corrupt headers built here.
'use strict';
const test = require('ava');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const io = require('../lib/io');
const { fuzzCorruptions } = require('./helpers');

const FIXTURES = path.join(__dirname, 'fixtures', 'io');
const fixture = (name) => path.join(FIXTURES, name);

/** Bitwise equality of float32 data, any NaN equal to any NaN, -0 distinct from +0. */
function assertSameValues(t, got, want, what) {
  t.is(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const same = Object.is(got[i], want[i]) || (Number.isNaN(got[i]) && Number.isNaN(want[i]));
    if (!same) return t.fail(`${what}[${i}]: got ${got[i]}, want ${want[i]}`);
  }
  t.pass();
}

/** A safetensors file from a header string and data bytes, built without the code under test. */
function fileWith(header, data = new Uint8Array(0), headerLength) {
  const json = Buffer.from(header, 'utf8');
  const out = Buffer.alloc(8 + json.length + data.length);
  out.writeBigUInt64LE(BigInt(headerLength ?? json.length), 0);
  json.copy(out, 8);
  Buffer.from(data).copy(out, 8 + json.length);
  return out;
}

function headerOf(bytes) {
  const n = Number(Buffer.from(bytes).readBigUInt64LE(0));
  return JSON.parse(
    Buffer.from(bytes)
      .subarray(8, 8 + n)
      .toString('utf8'),
  );
}

function tmpFile(t, name) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lkvit-io-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, name);
}

test('every dtype converts to the float32 values torch gives, unaligned offsets included', (t) => {
  const got = io.readSafetensors(fixture('mixed.safetensors'));
  const want = io.readSafetensors(fixture('mixed_expected.safetensors'));
  const header = headerOf(fs.readFileSync(fixture('mixed.safetensors')));
  t.true(
    header.f64.data_offsets[0] % 8 !== 0 && header.f32.data_offsets[0] % 4 !== 0,
    'the fixture has unaligned floats',
  );
  t.deepEqual([...got.tensors.keys()].sort(), [...want.tensors.keys()].sort());
  for (const [name, expected] of want.tensors) {
    const tensor = got.tensors.get(name);
    t.deepEqual(tensor.shape, expected.shape, name);
    t.is(tensor.dtype, header[name].dtype, name);
    t.is(expected.dtype, 'F32');
    assertSameValues(t, tensor.data, expected.data, name);
  }
  t.is(got.tensors.get('f16_all').data.length, 65536, 'all half bit patterns');
  t.deepEqual(got.metadata, { format: 'pt', note: 'caf\u00e9 "quoted"\nline' });
  t.deepEqual(want.metadata, got.metadata);
});

test('special values survive: subnormal halves, infinities, NaN, -0, 0-d and empty tensors', (t) => {
  const { tensors } = io.readSafetensors(fixture('mixed.safetensors'));
  const halves = tensors.get('f16_all').data; // bit pattern b at index (b + 32768) % 65536 (int16 order)
  const half = (bits) => halves[(bits + 32768) % 65536];
  t.is(half(0x0001), 2 ** -24); // smallest subnormal
  t.is(half(0x03ff), 1023 * 2 ** -24); // largest subnormal
  t.is(half(0x0400), 2 ** -14);
  t.is(half(0x7bff), 65504);
  t.is(half(0x7c00), Infinity);
  t.is(half(0xfc00), -Infinity);
  t.true(Number.isNaN(half(0x7e00)));
  t.true(Object.is(half(0x8000), -0));
  t.is(half(0x83ff), -1023 * 2 ** -24);
  t.deepEqual(tensors.get('scalar').shape, []);
  t.deepEqual([...tensors.get('scalar').data], [-2.5]);
  t.deepEqual(tensors.get('empty').shape, [0, 3]);
  t.is(tensors.get('empty').data.length, 0);
  t.deepEqual([...tensors.get('bool').data], [1, 0, 1]);
  t.deepEqual([...tensors.get('u8').data], [0, 255, 7]);
});

// The reference file holds (i * 0.25 - k) for the k-th tensor in UTF-8 key order.
const WRITER_SHAPES = [
  ['bias', [2]],
  ['blocks.10.weight', [2, 3]],
  ['blocks.2.weight', [3]],
  ['empty', [0, 4]],
  ['scalar', []],
  ['z\uffff', [2]],
  ['z\u{1f600}', [2]],
  ['\u00fc.weight', [1, 2]],
];
function writerTensors() {
  const tensors = WRITER_SHAPES.map(([name, shape], k) => {
    const n = shape.reduce((a, b) => a * b, 1);
    return [name, { shape, data: Float32Array.from({ length: n }, (_, i) => i * 0.25 - k) }];
  });
  return new Map(tensors.reverse()); // given out of order: the writer sorts
}

test('serializeSafetensors writes byte for byte what the safetensors layout prescribes', (t) => {
  const metadata = { name: 'r\u00e9f "x"\n', format: 'pt' };
  t.deepEqual(
    Buffer.from(io.serializeSafetensors(writerTensors(), metadata)),
    fs.readFileSync(fixture('writer_reference.safetensors')),
  );
  t.deepEqual(
    Buffer.from(io.serializeSafetensors(writerTensors())),
    fs.readFileSync(fixture('writer_reference_nometa.safetensors')),
  );
  const asRecord = Object.fromEntries(writerTensors());
  t.deepEqual(
    Buffer.from(io.serializeSafetensors(asRecord)),
    fs.readFileSync(fixture('writer_reference_nometa.safetensors')),
  );
});

test('writeSafetensors then readSafetensors round-trips values, shapes and metadata', (t) => {
  const file = tmpFile(t, 'out.safetensors');
  const sub = new Float32Array([9, 1, -0, NaN, Infinity, 3e-45]).subarray(1); // a view with an offset
  const tensors = {
    a: { shape: [5], data: sub },
    b: { shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) },
    c: { shape: [], data: new Float32Array([7]) },
  };
  const metadata = JSON.parse('{"epoch":"3","__proto__":"kept"}'); // an own '__proto__' key, as a reader may produce
  io.writeSafetensors(file, tensors, metadata);
  const back = io.readSafetensors(file);
  t.deepEqual(back.metadata, metadata);
  t.true(Object.prototype.hasOwnProperty.call(back.metadata, '__proto__'));
  for (const [name, want] of Object.entries(tensors)) {
    t.deepEqual(back.tensors.get(name).shape, want.shape);
    t.is(back.tensors.get(name).dtype, 'F32');
    assertSameValues(t, back.tensors.get(name).data, want.data, name);
  }
  const header = headerOf(fs.readFileSync(file));
  t.is((8 + Number(fs.readFileSync(file).readBigUInt64LE(0))) % 8, 0, 'data starts 8-byte aligned');
  t.deepEqual(header.a.data_offsets, [0, 20]);
});

test('serializeSafetensors rejects bad arguments with TypeError / RangeError', (t) => {
  const ok = { shape: [2], data: new Float32Array(2) };
  t.throws(() => io.serializeSafetensors(null), { instanceOf: TypeError, message: /tensors must be/ });
  t.throws(() => io.serializeSafetensors({ a: { shape: [2], data: [1, 2] } }), {
    instanceOf: TypeError,
    message: /tensors\['a'\].*Float32Array/,
  });
  t.throws(() => io.serializeSafetensors({ a: { shape: [-2], data: new Float32Array(2) } }), {
    instanceOf: TypeError,
    message: /shape/,
  });
  t.throws(() => io.serializeSafetensors({ a: { shape: [3], data: new Float32Array(2) } }), {
    instanceOf: RangeError,
    message: /3 elements.*2/,
  });
  t.throws(() => io.serializeSafetensors({ __metadata__: ok }), { instanceOf: TypeError, message: /__metadata__/ });
  t.throws(() => io.serializeSafetensors({ a: ok }, { k: 1 }), {
    instanceOf: TypeError,
    message: /metadata\['k'\] must be a string/,
  });
  t.throws(() => io.writeSafetensors(42, { a: ok }), { instanceOf: TypeError, message: /path/ });
});

const CORRUPT = [
  ['too short', Buffer.from([1, 2, 3]), /too short/],
  ['header length beyond the file', fileWith('{}', new Uint8Array(0), 1000), /header length 1000 exceeds the 2 bytes/],
  ['header length beyond 100 MB', fileWith('{}', new Uint8Array(0), 2 ** 40), /exceeds the 100000000-byte limit/],
  ['invalid JSON', fileWith('{"a": [1, 2'), /not valid UTF-8 JSON/],
  ['invalid UTF-8', fileWith('{"a":1}').fill(0xff, 10, 11), /not valid UTF-8 JSON/],
  ['not an object', fileWith('[1,2]'), /not a JSON object/],
  ['entry not an object', fileWith('{"x":3}'), /tensor 'x' is not an object/],
  [
    'unknown dtype',
    fileWith('{"x":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}', new Uint8Array(1)),
    /tensor 'x' has dtype "F8_E4M3"; supported: F64, F32/,
  ],
  [
    'offsets beyond the data',
    fileWith('{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', new Uint8Array(4)),
    /data_offsets \[0, 8\] beyond the 4-byte data section/,
  ],
  [
    'size mismatch',
    fileWith('{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', new Uint8Array(8)),
    /needs 12 bytes, but its data_offsets span 8/,
  ],
  ['negative dimension', fileWith('{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}'), /shape \[-1\]/],
  [
    'fractional dimension',
    fileWith('{"x":{"dtype":"F32","shape":[1.5],"data_offsets":[0,6]}}', new Uint8Array(6)),
    /shape \[1.5\]/,
  ],
  [
    'reversed offsets',
    fileWith('{"x":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}}', new Uint8Array(4)),
    /data_offsets \[4,0\]/,
  ],
  ['missing offsets', fileWith('{"x":{"dtype":"U8","shape":[0]}}'), /data_offsets undefined/],
  ['metadata not strings', fileWith('{"__metadata__":{"a":1}}'), /__metadata__\['a'\] is not a string/],
];

for (const [what, bytes, message] of CORRUPT) {
  test(`a corrupt file is a CheckpointError naming the problem: ${what}`, (t) => {
    const err = t.throws(() => io.parseSafetensors(bytes, 'bad.safetensors'), {
      instanceOf: io.CheckpointError,
      message,
    });
    t.true(err.message.startsWith('bad.safetensors: '), err.message);
  });
}

test('readSafetensors names the file in errors and rejects truncated copies at any point', (t) => {
  const good = fs.readFileSync(fixture('writer_reference.safetensors'));
  const file = tmpFile(t, 'cut.safetensors');
  for (let cut = 0; cut < good.length; cut += 13) {
    fs.writeFileSync(file, good.subarray(0, cut));
    t.throws(() => io.readSafetensors(file), {
      instanceOf: io.CheckpointError,
      message: new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `),
    });
  }
  t.throws(() => io.parseSafetensors([1, 2]), { instanceOf: TypeError, message: /Uint8Array/ });
});

test('random corruption of a header gives a CheckpointError or a valid result, never another error', (t) => {
  const good = fs.readFileSync(fixture('writer_reference.safetensors'));
  const headerEnd = 8 + Number(good.readBigUInt64LE(0));
  const { rejected, error, trial } = fuzzCorruptions({
    good,
    span: headerEnd,
    trials: 400,
    seed: 12345,
    parse: (b) => io.parseSafetensors(b),
    ErrorClass: io.CheckpointError,
  });
  if (error) return t.fail(`trial ${trial}: ${error.stack}`);
  t.true(rejected > 100, `${rejected} of 400 corruptions rejected`);
});

test('loadStateDict detects safetensors by content and strips a DataParallel prefix', (t) => {
  const file = tmpFile(t, 'weights.bin'); // the extension says nothing
  const data = new Float32Array([1, 2]);
  fs.writeFileSync(
    file,
    io.serializeSafetensors({ 'module.a': { shape: [2], data }, 'module.b.c': { shape: [1, 2], data } }),
  );
  const sd = io.loadStateDict(file);
  t.deepEqual([...sd.keys()], ['a', 'b.c']);
  t.deepEqual([...sd.get('b.c').data], [1, 2]);
  fs.writeFileSync(file, io.serializeSafetensors({ 'module.a': { shape: [2], data }, b: { shape: [2], data } }));
  t.deepEqual([...io.loadStateDict(file).keys()], ['b', 'module.a'], 'kept when not every key has it');
  fs.writeFileSync(file, 'hello world, not weights');
  t.throws(() => io.loadStateDict(file), {
    instanceOf: io.CheckpointError,
    message: /neither a safetensors file nor a PyTorch checkpoint/,
  });
  t.throws(() => io.loadStateDict(undefined), { instanceOf: TypeError, message: /path must be a string/ });
});
