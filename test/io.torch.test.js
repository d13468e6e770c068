// PyTorch zip checkpoints against files written by torch 1.13 (test/fixtures/make_io_fixtures.py):
// values compared with torch's own float32 conversion saved as safetensors, refusal of code
// references, and corrupt or truncated archives. Also the zip and pickle layers on their own.
'use strict';
const test = require('ava');
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');
const io = require('../lib/io');
const { fuzzCorruptions } = require('./helpers');
const { unpickle, PLAIN_GLOBALS } = require('../lib/io/pickle');
const { crc32Table } = require('../lib/io/zip');
const crc32 = zlib.crc32 ?? crc32Table; // zlib's needs Node >= 20.15

const FIXTURES = path.join(__dirname, 'fixtures', 'io');
const fixture = (name) => path.join(FIXTURES, name);
const MARKER = '/tmp/lkvit-io-malicious-marker'; // what the malicious fixtures would create

function assertSameValues(t, got, want, what) {
  t.is(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const same = Object.is(got[i], want[i]) || (Number.isNaN(got[i]) && Number.isNaN(want[i]));
    if (!same) return t.fail(`${what}[${i}]: got ${got[i]}, want ${want[i]}`);
  }
  t.pass();
}

/** Checks a Map of StateTensors against the float32 reference written by torch. */
function assertMatchesExpected(t, tensors, expectedFile, rename = (k) => k) {
  const expected = io.readSafetensors(fixture(expectedFile)).tensors;
  t.deepEqual([...tensors.keys()].sort(), [...expected.keys()].map(rename).sort());
  for (const [name, want] of expected) {
    const got = tensors.get(rename(name));
    t.deepEqual(got.shape, want.shape, name);
    t.true(got.data instanceof Float32Array);
    assertSameValues(t, got.data, want.data, name);
  }
}

const readFixture = (name) => io.parseTorchCheckpoint(fs.readFileSync(fixture(name)), name);

for (const file of ['plain.pth', 'plain_zip64_deflated.pth', 'plain_pyzip.pth']) {
  test(`a plain state dict with 0-d, 1-element and empty tensors: ${file}`, (t) => {
    const sd = readFixture(file);
    t.true(sd instanceof Map);
    t.deepEqual([...sd.keys()], ['conv.weight', 'conv.bias', 'scale', 'one', 'empty'], 'OrderedDict order kept');
    assertMatchesExpected(t, sd, 'plain_expected.safetensors');
    t.deepEqual(sd.get('scale').shape, []);
    t.deepEqual([...sd.get('scale').data], [2.5]);
    t.deepEqual(sd.get('one').shape, [1]);
    t.is(sd.get('conv.weight').dtype, 'F32');
    assertMatchesExpected(t, io.loadStateDict(fixture(file)), 'plain_expected.safetensors');
  });
}

test('other dtypes, transposed, permuted, expanded and strided views, shared storages', (t) => {
  const sd = readFixture('dtypes.pth');
  assertMatchesExpected(t, sd, 'dtypes_expected.safetensors');
  const dtypes = Object.fromEntries([...sd].map(([k, v]) => [k, v.dtype]));
  t.like(dtypes, {
    half: 'F16',
    bf16: 'BF16',
    double: 'F64',
    'bn.num_batches_tracked': 'I64',
    int32: 'I32',
    int16: 'I16',
    int8: 'I8',
    uint8: 'U8',
    bool: 'BOOL',
    transposed: 'F32',
    half_t: 'F16',
  });
  t.deepEqual([...sd.get('bn.num_batches_tracked').data], [1234]);
  t.deepEqual(sd.get('transposed').shape, [5, 3]);
  t.not(sd.get('view_a').data.buffer, sd.get('view_b').data.buffer, 'views of one storage get their own data');
});

test('a training checkpoint: the structure comes back as plain JS values', (t) => {
  const ckpt = readFixture('wrapped.pth');
  t.deepEqual([...ckpt.keys()], ['epoch', 'state_dict', 'model', 'model_ema', 'args', 'optimizer']);
  t.is(ckpt.get('epoch'), 3);
  const args = ckpt.get('args');
  t.is(args.get('lr'), 0.1);
  t.is(args.get('name'), 'replknet');
  t.deepEqual(args.get('flags'), [true, false, null]);
  t.deepEqual(args.get('sizes'), [224, 224]);
  t.is(args.get('seed'), 2n ** 70n);
  t.is(args.get('neg'), -5);
  t.is(args.get('big'), 70000);
  t.is(args.get('negbig'), -(2 ** 40));
  t.deepEqual(args.get('blob'), new Uint8Array([0, 0xff, 0x61, 0x62]));
  t.deepEqual(args.get('ids'), new Set([1, 2, 3]));
  t.is(args.get('dtype'), 'torch.float16');
  t.deepEqual(args.get('nested'), new Map([['depth', [1, [2, [3]]]]]));
  t.deepEqual(
    ckpt.get('optimizer'),
    new Map([
      ['state', new Map()],
      [
        'param_groups',
        [
          new Map([
            ['lr', 0.1],
            ['params', [0, 1]],
          ]),
        ],
      ],
    ]),
  );
  assertMatchesExpected(t, ckpt.get('model'), 'wrapped_expected.safetensors');
});

test("loadStateDict unwraps 'model' (after a tensor-less 'state_dict', before 'model_ema') and strips 'module.'", (t) => {
  const sd = io.loadStateDict(fixture('wrapped.pth'));
  assertMatchesExpected(t, sd, 'wrapped_expected.safetensors', (k) => k.replace(/^module\./, ''));
  t.deepEqual(io.STATE_DICT_KEYS, ['state_dict', 'model', 'module', 'model_ema', 'state_dict_ema']);
});

test('nn.Parameters (state_dict(keep_vars=True)) and torch 2.x parameters with attributes', (t) => {
  const sd = io.loadStateDict(fixture('params.pth'));
  assertMatchesExpected(t, sd, 'params_expected.safetensors');
  t.deepEqual(
    [...sd.keys()],
    ['0.weight', '0.bias', '1.weight', '1.bias', '1.running_mean', '1.running_var', '1.num_batches_tracked', 'extra'],
  );
  t.is(sd.get('1.num_batches_tracked').dtype, 'I64');
  t.deepEqual([...sd.get('1.num_batches_tracked').data], [1]);
});

test('loadStateDict reads a torch checkpoint whatever its extension', (t) => {
  const copy = path.join(require('node:os').tmpdir(), `lkvit-io-${process.pid}.safetensors`);
  fs.copyFileSync(fixture('plain.pth'), copy);
  t.teardown(() => fs.rmSync(copy, { force: true }));
  assertMatchesExpected(t, io.loadStateDict(copy), 'plain_expected.safetensors');
});

for (const [file, global] of [
  ['system.pth', 'posix.system'],
  ['eval.pth', 'builtins.eval'],
]) {
  test(`a checkpoint that would run code is refused and runs nothing: ${global}`, (t) => {
    fs.rmSync(MARKER, { force: true });
    for (const load of [() => io.loadStateDict(fixture(file)), () => io.readTorchCheckpoint(fixture(file))]) {
      const err = t.throws(load, { instanceOf: io.CheckpointError });
      t.true(
        err.message.startsWith(`refusing to load ${fixture(file)}: it references the Python global '${global}'`),
        err.message,
      );
      t.regex(err.message, /lkvit never executes code from checkpoints/);
    }
    t.false(fs.existsSync(MARKER));
  });
}

const REFUSED = [
  [
    'numpy.pth',
    /global 'numpy\.core\.multiarray\.scalar'.*numpy arrays and scalars are not supported.*torch\.save\(model\.state_dict\(\), path\)/,
  ],
  ['legacy.pth', /legacy \(pre-1\.6\) serialization format.*re-save it with torch >= 1\.6.*safetensors/],
  ['bigendian.pth', /saved on a big-endian machine/],
  ['tensor_only.pth', /holds a single tensor, not a dict of tensors/],
  ['no_tensors.pth', /holds no tensors \(its keys: epoch, model\)/],
  ['scripted.pt', /is a TorchScript archive \(torch\.jit\.save\), which holds code/],
  ['not_checkpoint.zip', /not a torch\.save checkpoint \(no <archive>\/data\.pkl entry\)/],
  ['short_storage.pth', /storage 'renamed\/data\/0' holds 428 bytes, but 108 FloatStorage elements need 432/],
  [
    'overrun.pth',
    /_rebuild_tensor_v2: a tensor of size \[4,4\], stride \[4,1\] and offset 0 reads element 15 of storage '0', which has 10/,
  ],
  ['overrun_offset.pth', /offset 8 reads element 10 of storage '0', which has 10/],
];
for (const [file, message] of REFUSED) {
  test(`an unsupported or corrupt checkpoint is a CheckpointError naming the problem: ${file}`, (t) => {
    const err = t.throws(() => io.loadStateDict(fixture(file)), { instanceOf: io.CheckpointError, message });
    t.true(err.message.includes(fixture(file)), err.message);
  });
}

const PLAIN = fs.readFileSync(fixture('plain.pth'));
const CENTRAL_DIRECTORY = PLAIN.indexOf(Buffer.from('PK\x01\x02', 'latin1'));

test('truncating a checkpoint anywhere gives a CheckpointError', (t) => {
  const cuts = [
    0,
    1,
    10,
    40,
    100,
    300,
    1000,
    CENTRAL_DIRECTORY - 3,
    CENTRAL_DIRECTORY + 10,
    CENTRAL_DIRECTORY + 60,
    PLAIN.length - 30,
    PLAIN.length - 1,
  ];
  for (let cut = 0; cut < PLAIN.length; cut += 7) cuts.push(cut);
  for (const cut of cuts)
    t.throws(() => io.parseTorchCheckpoint(PLAIN.subarray(0, cut), 'cut.pth'), {
      instanceOf: io.CheckpointError,
      message: /^cut\.pth/,
    });
});

test('a wrong local header offset, an unsupported method, encryption or a flipped data byte is caught', (t) => {
  const shifted = Buffer.from(PLAIN);
  const offsetField = CENTRAL_DIRECTORY + 42; // the first entry's local header offset
  shifted.writeUInt32LE(shifted.readUInt32LE(offsetField) + 1, offsetField);
  t.throws(() => io.parseTorchCheckpoint(shifted, 'shifted.pth'), {
    instanceOf: io.CheckpointError,
    message: /local header of '.*data\.pkl' at offset 1 has a bad signature/,
  });
  const beyond = Buffer.from(PLAIN);
  beyond.writeUInt32LE(0xfffffff0, offsetField);
  t.throws(() => io.parseTorchCheckpoint(beyond, 'beyond.pth'), {
    instanceOf: io.CheckpointError,
    message: /runs past the end of the file/,
  });
  const bzip2 = Buffer.from(PLAIN);
  bzip2.writeUInt16LE(12, CENTRAL_DIRECTORY + 10);
  t.throws(() => io.parseTorchCheckpoint(bzip2, 'bzip2.pth'), {
    instanceOf: io.CheckpointError,
    message: /uses compression method 12 \(only 0 = stored and 8 = deflate/,
  });
  const encrypted = Buffer.from(PLAIN);
  encrypted.writeUInt16LE(encrypted.readUInt16LE(CENTRAL_DIRECTORY + 8) | 1, CENTRAL_DIRECTORY + 8);
  t.throws(() => io.parseTorchCheckpoint(encrypted, 'encrypted.pth'), {
    instanceOf: io.CheckpointError,
    message: /is encrypted/,
  });
  const flipped = Buffer.from(PLAIN);
  const blob = flipped.indexOf(Buffer.from('data/0', 'latin1')) + 100; // inside the first storage
  flipped[blob] ^= 0x10;
  t.throws(() => io.parseTorchCheckpoint(flipped, 'flipped.pth'), {
    instanceOf: io.CheckpointError,
    message: /'plain\/data\/0' fails its CRC-32 check/,
  });
});

test('a deflated entry whose recorded size is wrong is caught', (t) => {
  const bytes = Buffer.from(fs.readFileSync(fixture('plain_zip64_deflated.pth')));
  const central = bytes.indexOf(Buffer.from('PK\x01\x02', 'latin1'));
  const zip64Size = central + 46 + bytes.readUInt16LE(central + 28) + 4; // the ZIP64 extra's uncompressed size
  const size = Number(bytes.readBigUInt64LE(zip64Size));
  for (const wrong of [size - 1, size + 1]) {
    bytes.writeBigUInt64LE(BigInt(wrong), zip64Size);
    t.throws(() => io.parseTorchCheckpoint(bytes, 'deflated.pth'), {
      instanceOf: io.CheckpointError,
      message: new RegExp(
        `'plain/data\\.pkl' (does not inflate to its recorded size ${wrong}|inflates to ${size} bytes, but its recorded size is ${wrong})`,
      ),
    });
  }
});

test('random corruption of data.pkl (CRC fixed up) gives a CheckpointError or a result, never another error', (t) => {
  // Find data.pkl through the central directory, independently of the reader under test.
  const nameLength = PLAIN.readUInt16LE(CENTRAL_DIRECTORY + 28);
  t.is(PLAIN.toString('latin1', CENTRAL_DIRECTORY + 46, CENTRAL_DIRECTORY + 46 + nameLength), 'plain/data.pkl');
  const size = PLAIN.readUInt32LE(CENTRAL_DIRECTORY + 24);
  const local = PLAIN.readUInt32LE(CENTRAL_DIRECTORY + 42);
  const start = local + 30 + PLAIN.readUInt16LE(local + 26) + PLAIN.readUInt16LE(local + 28);
  const { rejected, error, trial } = fuzzCorruptions({
    good: PLAIN,
    start,
    span: size,
    trials: 500,
    seed: 99,
    parse: (b) => io.parseTorchCheckpoint(b),
    ErrorClass: io.CheckpointError,
    fixUp: (b) => b.writeUInt32LE(crc32(b.subarray(start, start + size)), CENTRAL_DIRECTORY + 16),
  });
  if (error) return t.fail(`trial ${trial}: ${error.stack}`);
  t.true(rejected > 250, `${rejected} of 500 corruptions rejected`);
});

test('argument types are checked', (t) => {
  t.throws(() => io.parseTorchCheckpoint('plain.pth'), { instanceOf: TypeError, message: /Uint8Array/ });
  t.throws(() => io.readTorchCheckpoint(3), { instanceOf: TypeError, message: /path must be a string/ });
});

// The unpickler alone, on values pickled by Python in protocols 2, 4 and 5.
const unpickleBytes = (bytes) =>
  unpickle(Buffer.from(bytes), {
    source: 'test.pkl',
    globals: PLAIN_GLOBALS,
    persistentLoad: () => {
      throw new Error('no persistent ids expected');
    },
  });

for (const protocol of [2, 4, 5]) {
  test(`unpickles plain Python values (protocol ${protocol})`, (t) => {
    const v = unpickleBytes(fs.readFileSync(fixture(`values_p${protocol}.pkl`)));
    t.deepEqual(v.get('ints'), [
      0,
      1,
      255,
      256,
      65535,
      65536,
      -1,
      -(2 ** 31),
      2 ** 31 - 1,
      2n ** 53n,
      2n ** 64n,
      -(2n ** 100n),
    ]);
    t.deepEqual(v.get('floats'), [0.1, -0, Infinity, -1.5e300]);
    t.true(Object.is(v.get('floats')[1], -0));
    t.deepEqual(v.get('text'), ['', 'ascii', '\u00fc\u20ac\u{1f600}', 'x'.repeat(300)]);
    t.deepEqual(v.get('bytes'), [new Uint8Array(0), new Uint8Array([0, 255]), new Uint8Array(300).fill(0x79)]);
    t.deepEqual(v.get('bytearray'), new Uint8Array([0x78, 0x79]));
    t.deepEqual(v.get('tuples'), [[], [1], [1, 2], [1, 2, 3], [1, 2, 3, 4]]);
    t.deepEqual(v.get('flags'), [true, false, null]);
    t.deepEqual(v.get('set'), new Set([1, 2, 3]));
    t.deepEqual(v.get('frozenset'), new Set([5]));
    t.deepEqual(
      v.get('dict'),
      new Map([
        [1, 'one'],
        ['two', 2],
        [
          'nested',
          new Map([
            ['b', 1],
            ['a', 2],
          ]),
        ],
      ]),
    );
    t.is(v.get('shared')[0], v.get('shared')[1], 'a shared object stays shared');
  });
}

const BAD_PICKLES = [
  ['an unknown opcode', [0x80, 2, 0xff], /unsupported pickle opcode 0xff at offset 2/],
  ['a protocol 0 opcode', [0x80, 2, 0x49, 0x31, 0x0a, 0x2e], /opcode 0x49 'I' \(INT\) at offset 2/],
  ['out-of-band buffers', [0x80, 5, 0x97, 0x2e], /0x97 \(NEXT_BUFFER\)/],
  ['a future protocol', [0x80, 6, 0x2e], /pickle protocol 6/],
  ['a truncated string', [0x80, 2, 0x58, 0xff, 0xff, 0, 0, 0x61], /truncated: 65535 bytes needed at offset 7, 1 left/],
  ['a huge length', [0x80, 4, 0x8d, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x2e], /length of 1152921504606846976 bytes/],
  ['a missing STOP', [0x80, 2, 0x4e], /truncated/],
  ['an empty stack', [0x80, 2, 0x30], /empty stack/],
  ['an unset memo slot', [0x80, 2, 0x68, 5, 0x2e], /memo slot 5 at offset 2, which was never set/],
  ['a tuple without MARK', [0x80, 2, 0x74], /no MARK/],
  ['STOP inside a MARK', [0x80, 2, 0x28, 0x4e, 0x2e], /STOP at offset 4 with a malformed stack/],
  ['calling a non-callable', [0x80, 2, 0x4e, 0x29, 0x52, 0x2e], /calls a None at offset 4/],
  ['setting items on a list', [0x80, 2, 0x5d, 0x4e, 0x4e, 0x73, 0x2e], /sets items on a tuple or list at offset 5/],
  ['an unterminated GLOBAL', [0x80, 2, 0x63, 0x61, 0x62], /unterminated GLOBAL name/],
  ['a refused GLOBAL', [0x80, 2, 0x63, ...Buffer.from('os\nsystem\n'), 0x2e], /Python global 'os\.system'/],
  ['a persistent id in text form', [0x80, 2, 0x50, 0x31, 0x0a, 0x2e], /\(PERSID\)/],
  [
    'NEWOBJ_EX with keyword arguments',
    [
      0x80,
      4,
      0x8c,
      11,
      ...Buffer.from('collections'),
      0x8c,
      11,
      ...Buffer.from('OrderedDict'),
      0x93,
      0x29,
      0x7d,
      0x8c,
      1,
      0x61,
      0x4e,
      0x73,
      0x92,
      0x2e,
    ],
    /NEWOBJ_EX at offset \d+ passes keyword arguments/,
  ],
  [
    'bytes from a non-latin1 codec',
    [
      0x80,
      2,
      0x63,
      ...Buffer.from('_codecs\nencode\n'),
      0x8c,
      1,
      0x61,
      0x8c,
      4,
      ...Buffer.from('utf8'),
      0x86,
      0x52,
      0x2e,
    ],
    /_codecs\.encode: expected \(text, 'latin1'\)/,
  ],
  ['deeply nested MARKs', [0x80, 2, ...new Array(10001).fill(0x28)], /more than 10000 MARKs/],
];
for (const [what, bytes, message] of BAD_PICKLES) {
  test(`a bad pickle stream is a CheckpointError: ${what}`, (t) => {
    const err = t.throws(() => unpickleBytes(bytes), { instanceOf: io.CheckpointError, message });
    t.regex(err.message, /test\.pkl/);
  });
}

test('the pickle stream is read, never run: NEWOBJ of an allowed class, BUILD on a dict', (t) => {
  // OrderedDict via NEWOBJ, then BUILD with an attribute dict (how a state_dict's _metadata is stored).
  const bytes = [
    0x80,
    2,
    0x63,
    ...Buffer.from('collections\nOrderedDict\n'),
    0x29,
    0x81,
    0x7d,
    0x8c,
    1,
    0x6b,
    0x4b,
    1,
    0x73,
    0x62,
    0x2e,
  ];
  t.deepEqual(unpickleBytes(bytes), new Map());
  const onList = [0x80, 2, 0x5d, 0x7d, 0x62, 0x2e];
  t.throws(() => unpickleBytes(onList), {
    instanceOf: io.CheckpointError,
    message: /BUILD at offset 4 sets the state of a tuple or list/,
  });
});

test('the portable CRC-32 agrees with zlib', (t) => {
  let seed = 7;
  const data = Uint8Array.from({ length: 10000 }, () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24);
  for (const n of [0, 1, 3, 255, 10000]) t.is(crc32Table(data.subarray(0, n)), crc32(data.subarray(0, n)));
  t.is(crc32Table(Buffer.from('123456789')), 0xcbf43926); // the standard check value
});
