// Hostile files against the loaders (issue 19): each input is built here, byte by byte, and each
// load must end in a clear error within seconds and bounded memory. The loads run in a child
// process (heap capped at 1 GiB) so that a regression shows as a failed test, not a dead runner,
// and so that the child's peak RSS measures what the load allocated.
'use strict';
const test = require('ava');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');
const { spawnSync, execFileSync } = require('node:child_process');

const LIB = path.join(__dirname, '..', 'lib');
const MODELS = path.join(__dirname, 'fixtures', 'models');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lkvit-hostile-'));
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

const MiB = 2 ** 20;
const MAX_GROWTH = 300 * MiB;
const MAX_MS = 5000;
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e]/;

let counter = 0;
function write(name, bytes) {
  const file = path.join(tmp, `${counter++}-${name}`);
  fs.writeFileSync(file, bytes);
  return file;
}

/**
 * Runs `body` (the body of an async function with lib(name) to require lib/<name>, and `args`) in a
 * fresh Node; returns { error: {name, message} | null, value, ms, growth } where growth is the peak
 * RSS of the process minus its RSS before the call.
 */
function isolated(body, args = {}) {
  const script = `
    const lib = (name) => require(${JSON.stringify(LIB)} + '/' + name);
    const args = JSON.parse(process.argv[1]);
    (async () => {
      const run = async () => { ${body} };
      lib('io'); lib('io/image'); // loaded before measuring
      const before = process.memoryUsage().rss;
      const t0 = performance.now();
      let error = null, value;
      try { value = await run(); } catch (e) { error = { name: e.name, message: e.message }; }
      const ms = performance.now() - t0;
      const growth = process.resourceUsage().maxRSS * 1024 - before;
      process.stdout.write(JSON.stringify({ error, value, ms, growth }));
    })();`;
  const r = spawnSync(process.execPath, ['--max-old-space-size=1024', '-e', script, JSON.stringify(args)], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (r.status !== 0)
    throw new Error(`the child exited with ${r.status} (signal ${r.signal}): ${(r.stderr || '').slice(-1500)}`);
  return JSON.parse(r.stdout);
}

/** The load failed with `name` and a message matching every pattern, quickly and in bounded memory. */
function assertRefused(t, r, name, ...patterns) {
  t.truthy(r.error, `expected a ${name}, but the load succeeded`);
  if (!r.error) return;
  t.is(r.error.name, name, r.error.message);
  for (const p of patterns) t.regex(r.error.message, p);
  t.false(CONTROL.test(r.error.message), `raw control characters in: ${JSON.stringify(r.error.message)}`);
  t.log(`${r.error.name} after ${r.ms.toFixed(0)} ms, peak RSS +${(r.growth / MiB).toFixed(0)} MiB`);
  t.true(r.ms < MAX_MS, `took ${r.ms.toFixed(0)} ms`);
  t.true(r.growth < MAX_GROWTH, `peak RSS grew by ${(r.growth / MiB).toFixed(0)} MiB`);
}

// ---------------------------------------------------------------------------------------------------
// A pickle writer (opcodes as pickletools names them) and a zip writer, enough for torch.save's layout.

const OP = {
  MARK: 0x28,
  STOP: 0x2e,
  POP: 0x30,
  BININT: 0x4a,
  BININT1: 0x4b,
  BINPERSID: 0x51,
  REDUCE: 0x52,
  BINUNICODE: 0x58,
  APPEND: 0x61,
  APPENDS: 0x65,
  BINGET: 0x68,
  EMPTY_LIST: 0x5d,
  BINPUT: 0x71,
  SETITEM: 0x73,
  SETITEMS: 0x75,
  TUPLE: 0x74,
  EMPTY_TUPLE: 0x29,
  EMPTY_DICT: 0x7d,
  PROTO: 0x80,
  TUPLE1: 0x85,
  NEWFALSE: 0x89,
};
const op = (...codes) => Buffer.from(codes);
const u16 = (n) => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
};
const u32 = (n) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const int = (n) =>
  Buffer.concat([
    op(OP.BININT),
    (() => {
      const b = Buffer.alloc(4);
      b.writeInt32LE(n);
      return b;
    })(),
  ]);
const str = (s) => {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([op(OP.BINUNICODE), u32(b.length), b]);
};
const pyGlobal = (module, name) => Buffer.from(`c${module}\n${name}\n`, 'latin1');
const tuple = (...items) => Buffer.concat([op(OP.MARK), ...items, op(OP.TUPLE)]);

/** torch._utils._rebuild_tensor_v2 of FloatStorage `key` (numel elements) with raw size and stride pickles. */
function tensorPickle(key, numel, offset, sizeBytes, strideBytes) {
  const storage = Buffer.concat([
    tuple(str('storage'), pyGlobal('torch', 'FloatStorage'), str(key), str('cpu'), int(numel)),
    op(OP.BINPERSID),
  ]);
  const hooks = Buffer.concat([pyGlobal('collections', 'OrderedDict'), op(OP.EMPTY_TUPLE, OP.REDUCE)]);
  return Buffer.concat([
    pyGlobal('torch._utils', '_rebuild_tensor_v2'),
    tuple(storage, int(offset), sizeBytes, strideBytes, op(OP.NEWFALSE), hooks),
    op(OP.REDUCE),
  ]);
}
const view = (key, numel, offset, size, stride) =>
  tensorPickle(key, numel, offset, tuple(...size.map(int)), tuple(...stride.map(int)));

/** {name: value pickle, ...} as a pickled dict. */
function dictPickle(entries) {
  const items = Object.entries(entries).flatMap(([k, v]) => [str(k), v]);
  return Buffer.concat([op(OP.PROTO, 2, OP.EMPTY_DICT, OP.MARK), ...items, op(OP.SETITEMS, OP.STOP)]);
}

/** A zip of entries { name, data } (stored) or { name, method: 8, compressed, size, crc } (deflated). */
function zip(entries) {
  const locals = [],
    centrals = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const method = e.method ?? 0;
    const body = method === 0 ? e.data : e.compressed;
    const size = method === 0 ? e.data.length : e.size;
    const crc = method === 0 ? zlib.crc32(e.data) : e.crc;
    const common = Buffer.concat([
      u16(20),
      u16(0),
      u16(method),
      u16(0),
      u16(0),
      u32(crc),
      u32(body.length),
      u32(size),
      u16(name.length),
      u16(0),
    ]);
    locals.push(u32(0x04034b50), common, name, body);
    centrals.push(u32(0x02014b50), u16(20), common, u16(0), u16(0), u16(0), u32(0), u32(offset), name);
    offset += 30 + name.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const eocd = Buffer.concat([
    u32(0x06054b50),
    u16(0),
    u16(0),
    u16(entries.length),
    u16(entries.length),
    u32(cd.length),
    u32(offset),
    u16(0),
  ]);
  return Buffer.concat([...locals, cd, eocd]);
}

/** A torch.save-style checkpoint: data.pkl plus raw storages { key: bytes }. */
function torchFile(pkl, storages = {}) {
  return zip([
    { name: 'archive/data.pkl', data: pkl },
    ...Object.entries(storages).map(([k, data]) => ({ name: `archive/data/${k}`, data })),
  ]);
}

const floats = (...v) => Buffer.from(new Float32Array(v).buffer);

// ---------------------------------------------------------------------------------------------------
// Pickles and torch checkpoints.

test('a pickle that applies builtins.set 3,000 times to one memoised list of 100,000 ints is refused by the budget', (t) => {
  const ints = Buffer.concat(Array.from({ length: 100_000 }, (_, i) => int(i)));
  const sets = Buffer.concat(Array.from({ length: 3000 }, () => op(OP.BINGET, 1, OP.BINGET, 0, OP.TUPLE1, OP.REDUCE)));
  const pkl = Buffer.concat([
    op(OP.PROTO, 2, OP.EMPTY_LIST, OP.BINPUT, 0, OP.MARK),
    ints,
    op(OP.APPENDS, OP.POP),
    pyGlobal('builtins', 'set'),
    op(OP.BINPUT, 1, OP.POP, OP.MARK),
    sets,
    op(OP.TUPLE, OP.STOP),
  ]);
  const file = write('sets.pth', torchFile(pkl));
  t.true(fs.statSync(file).size < 600_000);
  const r = isolated(`return lib('io').loadStateDict(args.file)`, { file });
  assertRefused(
    t,
    r,
    'CheckpointError',
    /sets\.pth/,
    /set of 100000 items/,
    /maxExpansion = 4 x the file's/,
    /--max-load-expansion/,
  );
});

test('the same stream on a small scale still unpickles: three sets of the list', (t) => {
  const pkl = Buffer.concat([
    op(OP.PROTO, 2, OP.EMPTY_LIST, OP.BINPUT, 0, OP.MARK),
    int(7),
    int(-3),
    int(7),
    op(OP.APPENDS, OP.POP),
    pyGlobal('builtins', 'set'),
    op(OP.BINPUT, 1, OP.POP, OP.MARK),
    ...Array.from({ length: 3 }, () => op(OP.BINGET, 1, OP.BINGET, 0, OP.TUPLE1, OP.REDUCE)),
    op(OP.TUPLE, OP.STOP),
  ]);
  const io = require('../lib/io');
  const got = io.parseTorchCheckpoint(torchFile(pkl), 'small');
  t.deepEqual(got, [new Set([7, -3]), new Set([7, -3]), new Set([7, -3])]);
});

test('stride-0 views: two [2^30] views of a 1-element storage (a file under 1 KB) are refused, naming the limit and its option', (t) => {
  const pkl = dictPickle({ a: view('0', 1, 0, [2 ** 30], [0]), b: view('0', 1, 0, [2 ** 30], [0]) });
  const file = write('stride0.pth', torchFile(pkl, { 0: floats(1.5) }));
  t.true(fs.statSync(file).size < 1024);
  assertRefused(
    t,
    isolated(`return lib('io').loadStateDict(args.file)`, { file }),
    'CheckpointError',
    /stride0\.pth: a tensor of size \[1073741824\]/,
    /maxExpansion = 4/,
    /--max-load-expansion/,
  );
  // Lifting the relative limit leaves the absolute one, which names its own option.
  assertRefused(
    t,
    isolated(`return lib('io').loadStateDict(args.file, { maxExpansion: Infinity, maxBytes: 2 ** 30 })`, { file }),
    'CheckpointError',
    /over the absolute limit maxBytes = 1 GiB/,
    /maxBytes option/,
    /--max-load-bytes/,
  );
});

test('a small stride-0 view still loads: every element is the one stored value', (t) => {
  const io = require('../lib/io');
  const file = write(
    'expand.pth',
    torchFile(dictPickle({ e: view('0', 2, 1, [4, 3], [0, 0]) }), { 0: floats(9, -2.25) }),
  );
  const e = io.loadStateDict(file).get('e');
  t.deepEqual(e.shape, [4, 3]);
  t.deepEqual([...e.data], new Array(12).fill(-2.25));
  // A transposed view with size-1 dimensions (whatever their stride): element (i, 0, j, 0) is storage[i + 3j].
  const tr = write(
    'transposed.pth',
    torchFile(dictPickle({ v: view('0', 6, 0, [3, 1, 2, 1], [1, 99, 3, 7]) }), { 0: floats(1, 2, 3, 4, 5, 6) }),
  );
  const v = io.loadStateDict(tr).get('v');
  t.deepEqual(v.shape, [3, 1, 2, 1]);
  t.deepEqual([...v.data], [1, 4, 2, 5, 3, 6]);
});

test('300 views of one 10 MB storage are refused after a few views, without copying the storage 300 times', (t) => {
  const numel = 2_500_000;
  const views = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`v${i}`, view('0', numel, 0, [numel], [1])]));
  const file = write('views.pth', torchFile(dictPickle(views), { 0: Buffer.alloc(numel * 4) }));
  assertRefused(
    t,
    isolated(`return lib('io').loadStateDict(args.file)`, { file }),
    'CheckpointError',
    /maxExpansion = 4/,
  );
});

test('a deflated storage that inflates to 128 MiB (a 128 KB zip bomb) is refused before inflating', (t) => {
  const size = 128 * MiB;
  const zeros = Buffer.alloc(size);
  const compressed = zlib.deflateRawSync(zeros, { level: 1 });
  const crc = zlib.crc32(zeros);
  const pkl = dictPickle({ w: view('0', size / 4, 0, [size / 4], [1]) });
  const file = write(
    'bomb.pth',
    zip([
      { name: 'archive/data.pkl', data: pkl },
      { name: 'archive/data/0', method: 8, compressed, size, crc },
    ]),
  );
  t.true(fs.statSync(file).size < 2 * MiB);
  assertRefused(
    t,
    isolated(`return lib('io').loadStateDict(args.file)`, { file }),
    'CheckpointError',
    /inflating zip entry 'archive\/data\/0'/,
    /maxExpansion = 4/,
  );
});

test('a size tuple nested 500,000 levels is a CheckpointError, not a stack overflow', (t) => {
  const deep = Buffer.concat([int(1), Buffer.alloc(500_000, OP.TUPLE1)]);
  const file = write(
    'deep_size.pth',
    torchFile(dictPickle({ w: tensorPickle('0', 1, 0, deep, tuple(int(1))) }), { 0: floats(1) }),
  );
  assertRefused(
    t,
    isolated(`return lib('io').loadStateDict(args.file)`, { file }),
    'CheckpointError',
    /the size is not a tuple/,
  );
});

test('a 1,000,000-deep list as a dict key is a CheckpointError, not a stack overflow', (t) => {
  const n = 1_000_000;
  const key = Buffer.concat([Buffer.alloc(n, OP.EMPTY_LIST), Buffer.alloc(n - 1, OP.APPEND)]);
  const pkl = Buffer.concat([op(OP.PROTO, 2, OP.EMPTY_DICT), key, view('0', 1, 0, [1], [1]), op(OP.SETITEM, OP.STOP)]);
  const file = write('deep_key.pth', torchFile(pkl, { 0: floats(1) }));
  // A million containers from 2 MB: refused by the budget (each container is charged).
  assertRefused(
    t,
    isolated(`return lib('io').loadStateDict(args.file)`, { file }),
    'CheckpointError',
    /values and containers/,
    /maxExpansion = 4/,
  );
  // Under the limit (200,000 deep), the nesting itself must not overflow the stack when the key is described in an error.
  const m = 200_000;
  const shallower = Buffer.concat([Buffer.alloc(m, OP.EMPTY_LIST), Buffer.alloc(m - 1, OP.APPEND)]);
  const under = write(
    'deep_key_200k.pth',
    torchFile(
      Buffer.concat([op(OP.PROTO, 2, OP.EMPTY_DICT), shallower, view('0', 1, 0, [1], [1]), op(OP.SETITEM, OP.STOP)]),
      { 0: floats(1) },
    ),
  );
  assertRefused(
    t,
    isolated(`return lib('io').loadStateDict(args.file)`, { file: under }),
    'CheckpointError',
    /holds no tensors \(its keys: a list of 1\)/,
  );
  const r = isolated(`const m = lib('io').readTorchCheckpoint(args.file); return [...m.keys()][0].length`, {
    file: under,
  });
  t.is(r.error, null);
  t.is(r.value, 1);
});

test('a Python global whose name carries terminal escapes is refused with the name escaped', (t) => {
  const io = require('../lib/io');
  const pkl = Buffer.concat([op(OP.PROTO, 2), pyGlobal('os', 'system\x1b]0;owned\x07'), op(OP.STOP)]);
  const err = t.throws(() => io.parseTorchCheckpoint(torchFile(pkl), 'evil\x1b[2J.pth'), { name: 'CheckpointError' });
  t.false(CONTROL.test(err.message), JSON.stringify(err.message));
  t.regex(err.message, /refusing to load evil\\x1b\[2J\.pth/);
  t.regex(err.message, /'os\.system\\x1b\]0;owned\\x07'/);
});

// ---------------------------------------------------------------------------------------------------
// safetensors.

/** A safetensors file from a header given as JSON text (so duplicate keys can be written) and a data section. */
function safetensors(headerText, data = Buffer.alloc(0)) {
  const json = Buffer.from(headerText, 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([length, json, data]);
}
const entry = (name, shape, begin, end, dtype = 'F32') =>
  `${JSON.stringify(name)}:{"dtype":"${dtype}","shape":${JSON.stringify(shape)},"data_offsets":[${begin},${end}]}`;

test('safetensors: 300 tensors aliasing one 10 MB region are refused as overlapping', (t) => {
  const n = 2_500_000;
  const header = `{${Array.from({ length: 300 }, (_, i) => entry(`t${i}`, [n], 0, n * 4)).join(',')}}`;
  const file = write('alias.safetensors', safetensors(header, Buffer.alloc(n * 4)));
  assertRefused(
    t,
    isolated(`return lib('io').loadStateDict(args.file)`, { file }),
    'CheckpointError',
    /tensors 't\d+' \[0, 10000000\] and 't\d+' \[0, 10000000\] overlap/,
    /format gives each tensor its own bytes/,
  );
  assertRefused(t, isolated(`return lib('io').readSafetensors(args.file)`, { file }), 'CheckpointError', /overlap/);
});

test('safetensors: partial overlaps, gaps, trailing bytes and duplicate keys are refused', (t) => {
  const io = require('../lib/io');
  const data = Buffer.alloc(16);
  const cases = [
    [
      `{${entry('a', [2], 0, 8)},${entry('b', [2], 4, 12)},${entry('c', [1], 12, 16)}}`,
      /tensors 'a' \[0, 8\] and 'b' \[4, 12\] overlap/,
    ],
    [
      `{${entry('a', [1], 0, 4)},${entry('b', [2], 8, 16)}}`,
      /bytes \[4, 8\) .* belong to no tensor \(a gap before 'b'\)/,
    ],
    [`{${entry('a', [2], 0, 8)}}`, /bytes \[8, 16\) at the end of the data section belong to no tensor/],
    [`{${entry('a', [2], 0, 8)},${entry('a', [2], 8, 16)}}`, /the key 'a' twice in one object/],
    [`{${entry('a', [2], 0, 8)},"\\u0061":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}`, /the key 'a' twice/], // the same name, escaped
    [`{"a":{"dtype":"F32","dtype":"F16","shape":[4],"data_offsets":[0,16]}}`, /the key 'dtype' twice/],
  ];
  for (const [header, message] of cases) {
    const err = t.throws(
      () => io.parseSafetensors(safetensors(header, data), 'x.safetensors'),
      { name: 'CheckpointError' },
      header,
    );
    t.regex(err.message, /^x\.safetensors: /);
    t.regex(err.message, message);
  }
});

test('safetensors: a file that tiles its data exactly (empty tensors included) still loads', (t) => {
  const io = require('../lib/io');
  // Brackets, commas, colons, quotes and backslashes inside strings are not structure (nor duplicate keys).
  const tricky = JSON.stringify({ k: 'v', '{"k":[': 'a,"k":{}]\\', k2: '\\"k\\"' });
  const header = `{"__metadata__":${tricky},${entry('b', [2], 4, 12)},${entry('empty', [0, 3], 4, 4)},${entry('a', [1], 0, 4)},${entry('h', [1], 12, 14, 'F16')}}  `;
  const data = Buffer.concat([floats(1, 2, 3), Buffer.from([0x00, 0x3c])]); // F16 0x3c00 = 1
  const { tensors, metadata } = io.parseSafetensors(safetensors(header, data));
  t.deepEqual(metadata, JSON.parse(tricky));
  t.deepEqual([...tensors.get('a').data], [1]);
  t.deepEqual([...tensors.get('b').data], [2, 3]);
  t.deepEqual(tensors.get('empty').shape, [0, 3]);
  t.deepEqual([...tensors.get('h').data], [1]);
});

test('safetensors: a shape nested 500,000 levels is a CheckpointError, not a stack overflow', (t) => {
  const n = 500_000;
  const header = `{"a":{"dtype":"F32","shape":${'['.repeat(n)}${']'.repeat(n)},"data_offsets":[0,0]}}`;
  const file = write('deep.safetensors', safetensors(header));
  assertRefused(
    t,
    isolated(`return lib('io').loadStateDict(args.file)`, { file }),
    'CheckpointError',
    /nests deeper than 8 levels/,
  );
});

test('safetensors: a 20 MB header (a shape of 10 million zeros) is charged before JSON.parse builds it', (t) => {
  const n = 10_000_000;
  const file = write(
    'wide.safetensors',
    safetensors(`{"a":{"dtype":"F32","shape":[${'0,'.repeat(n - 1)}0],"data_offsets":[0,0]}}`),
  );
  assertRefused(
    t,
    isolated(`return lib('io').loadStateDict(args.file)`, { file }),
    'CheckpointError',
    /parsing the \d+-byte JSON header/,
    /maxExpansion = 4/,
  );
});

test('safetensors: a tensor name with terminal escapes is printed escaped', (t) => {
  const io = require('../lib/io');
  const header = `{${entry('\u001b[2J\u202eevil', [1], 0, 4)},${entry('b', [1], 0, 4)}}`;
  const err = t.throws(() => io.parseSafetensors(safetensors(header, Buffer.alloc(4))), { name: 'CheckpointError' });
  t.false(CONTROL.test(err.message), JSON.stringify(err.message));
  t.regex(err.message, /\\x1b\[2J\\u202eevil/);
});

// ---------------------------------------------------------------------------------------------------
// Options and non-regular files.

test('load limits are checked: a clear error naming the option', (t) => {
  const io = require('../lib/io');
  const file = write('ok.safetensors', safetensors(`{${entry('a', [1], 0, 4)}}`, floats(1)));
  t.throws(() => io.loadStateDict(file, { maxBytes: 0 }), {
    instanceOf: RangeError,
    message: /loadStateDict: options\.maxBytes must be a positive number/,
  });
  t.throws(() => io.readSafetensors(file, { maxExpansion: '4' }), {
    instanceOf: RangeError,
    message: /readSafetensors: options\.maxExpansion/,
  });
  t.throws(() => io.readTorchCheckpoint(file, null), {
    instanceOf: TypeError,
    message: /readTorchCheckpoint: options must be an object/,
  });
  t.deepEqual([...io.loadStateDict(file, { maxBytes: 1e6, maxExpansion: 1 }).get('a').data], [1]);
  // The file itself counts against maxBytes before it is read.
  t.throws(() => io.loadStateDict(file, { maxBytes: 10 }), {
    name: 'CheckpointError',
    message: new RegExp(
      `is ${fs.statSync(file).size} bytes, over the absolute limit maxBytes = 10 bytes; .*maxBytes option`,
    ),
  });
});

function mkfifo(name) {
  const p = path.join(tmp, name);
  execFileSync('mkfifo', [p]);
  return p;
}

test('FIFOs and devices are refused before reading, never waited on', (t) => {
  const fifo = mkfifo('weights.safetensors');
  for (const [call, file] of [
    ['loadStateDict', fifo],
    ['readSafetensors', fifo],
    ['readTorchCheckpoint', fifo],
    ['loadStateDict', '/dev/zero'],
  ]) {
    const r = isolated(`return lib('io')[args.call](args.file)`, { call, file });
    assertRefused(
      t,
      r,
      'CheckpointError',
      /is not a regular file \((a FIFO|a character device)\); lkvit reads only regular files/,
    );
  }
  assertRefused(
    t,
    isolated(`return lib('io/image').loadImage(args.file)`, { file: mkfifo('x.png') }),
    'ImageFileError',
    /is not a regular file \(a FIFO\)/,
  );
});

// ---------------------------------------------------------------------------------------------------
// Images.

/** A lossless WebP (VP8L) of one colour: five one-symbol prefix codes, so every pixel costs 0 bits. */
function solidWebp(width, height, [r, g, b]) {
  const bits = [];
  const put = (v, n) => {
    for (let i = 0; i < n; i++) bits.push((v >> i) & 1);
  };
  put(width - 1, 14);
  put(height - 1, 14);
  put(0, 1);
  put(0, 3); // size, no alpha, version 0
  put(0, 1);
  put(0, 1);
  put(0, 1); // no transform, no colour cache, no meta prefix codes
  for (const symbol of [g, r, b, 255, 0]) {
    put(1, 1);
    put(0, 1);
    put(1, 1);
    put(symbol, 8);
  } // green, red, blue, alpha, distance
  const packed = Buffer.alloc(Math.ceil(bits.length / 8));
  bits.forEach((bit, i) => (packed[i >> 3] |= bit << (i & 7)));
  const payload = Buffer.concat([Buffer.from([0x2f]), packed]);
  const padded = payload.length % 2 ? Buffer.concat([payload, Buffer.alloc(1)]) : payload;
  return Buffer.concat([
    Buffer.from('RIFF'),
    u32(4 + 8 + padded.length),
    Buffer.from('WEBPVP8L'),
    u32(payload.length),
    padded,
  ]);
}

test('the hand-made WebP decodes to its colour (so the big one below is a real image)', async (t) => {
  const image = require('../lib/io/image');
  const file = write('solid.webp', solidWebp(64, 48, [10, 20, 30]));
  const { data, shape } = await image.loadImage(file, { resize: null, crop: null });
  t.deepEqual(shape, [3, 48, 64]);
  for (const [c, v] of [
    [0, 10],
    [1, 20],
    [2, 30],
  ]) {
    const plane = data.subarray(c * 48 * 64, (c + 1) * 48 * 64);
    t.true(
      plane.every((x) => x === Math.fround(v / 255)),
      `channel ${c}`,
    );
  }
  await t.throwsAsync(image.loadImage(file, { maxPixels: 64 * 48 - 1 }), {
    name: 'ImageFileError',
    message: /is 64x48 = 3,072 pixels, more than maxPixels = 3,071/,
  });
  await t.notThrowsAsync(image.loadImage(file, { maxPixels: 64 * 48 }));
  await t.throwsAsync(image.loadImage(file, { maxPixels: 0 }), {
    instanceOf: RangeError,
    message: /transform\.maxPixels must be a number >= 1/,
  });
  await t.throwsAsync(image.loadImageBatch([file], {}, { concurrency: 0 }), {
    instanceOf: RangeError,
    message: /options\.concurrency/,
  });
});

test('a 16383x16383 WebP of a few bytes is refused on its header, alone and eight in a batch', (t) => {
  const bytes = solidWebp(16383, 16383, [1, 2, 3]);
  t.true(bytes.length < 100);
  const files = Array.from({ length: 8 }, (_, i) => write(`huge${i}.webp`, bytes));
  const pattern =
    /is 16383x16383 = 268,402,689 pixels, more than maxPixels = 100,000,000.*maxPixels option \(lkvit predict: --max-pixels\)/;
  assertRefused(
    t,
    isolated(`return lib('io/image').loadImage(args.file)`, { file: files[0] }),
    'ImageFileError',
    pattern,
  );
  assertRefused(t, isolated(`return lib('io/image').loadImageBatch(args.files)`, { files }), 'ImageFileError', pattern);
});

test('lkvit predict --images refuses the batch of huge WebPs and names --max-pixels', (t) => {
  const dir = path.join(tmp, 'predict-huge');
  fs.mkdirSync(dir);
  for (let i = 0; i < 8; i++) fs.writeFileSync(path.join(dir, `huge${i}.webp`), solidWebp(16383, 16383, [1, 2, 3]));
  const io = require('../lib/io');
  const config = io.readSafetensors(path.join(MODELS, 'convnext_tiny_k7.io.safetensors')).metadata.config;
  const argv = [
    'predict',
    '--model',
    'convnext_tiny',
    '--weights',
    path.join(MODELS, 'convnext_tiny_k7.safetensors'),
    '--config',
    config,
    '--images',
    dir,
    '--out',
    path.join(tmp, 'never.safetensors'),
    '--quiet',
  ];
  const r = isolated(
    `
    const said = [];
    process.stderr.write = (s) => (said.push(String(s).trim()), true);
    const code = await lib('cli/main').main(args.argv, (line) => said.push(line));
    if (code === 0) return 'exit 0';
    const e = new Error(said.join(' | ')); e.name = 'exit ' + code; throw e;`,
    { argv },
  );
  assertRefused(t, r, 'exit 1', /huge0\.webp' is 16383x16383/, /--max-pixels/);
  t.false(fs.existsSync(path.join(tmp, 'never.safetensors')));
});

test('an image file name with terminal escapes is printed escaped', async (t) => {
  const image = require('../lib/io/image');
  const file = write('bad\u001b[31m\u009b2J.png', Buffer.from('not an image'));
  const err = await t.throwsAsync(image.loadImage(file), { name: 'ImageFileError' });
  t.is(err.file, file, 'the file property keeps the real path');
  t.false(CONTROL.test(err.message), JSON.stringify(err.message));
  t.regex(err.message, /bad\\x1b\[31m\\x9b2J\.png' is not a readable image/);
});

// ---------------------------------------------------------------------------------------------------
// Folders: links out of the folder, FIFOs.

test('image folders list regular files and links inside the folder; links leaving it are skipped unless followLinks', (t) => {
  const image = require('../lib/io/image');
  const outside = write('outside.webp', solidWebp(4, 4, [0, 0, 0]));
  const dir = path.join(tmp, 'folder');
  fs.mkdirSync(path.join(dir, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'real.webp'), solidWebp(4, 4, [0, 0, 0]));
  fs.symlinkSync(path.join(dir, 'real.webp'), path.join(dir, 'inside.webp'));
  fs.symlinkSync('../real.webp', path.join(dir, 'sub', 'up.webp')); // inside the folder listed, recursively
  fs.symlinkSync(outside, path.join(dir, 'out.webp'));
  fs.symlinkSync('/etc/passwd', path.join(dir, 'passwd.jpg'));
  fs.symlinkSync(path.join(tmp, 'nowhere'), path.join(dir, 'dangling.png'));
  execFileSync('mkfifo', [path.join(dir, 'fifo.png')]);
  fs.symlinkSync(path.join(dir, 'fifo.png'), path.join(dir, 'to_fifo.png'));
  const names = (files) => files.map((f) => path.relative(dir, f));
  t.deepEqual(names(image.listImageFiles(dir)), ['inside.webp', 'real.webp']);
  t.deepEqual(names(image.listImageFiles(dir, { recursive: true })), ['inside.webp', 'real.webp', 'sub/up.webp']);
  t.deepEqual(names(image.listImageFiles(dir, { followLinks: true })), [
    'inside.webp',
    'out.webp',
    'passwd.jpg',
    'real.webp',
  ]);
  // The subfolder alone: its link leaves it.
  t.throws(() => image.listImageFiles(path.join(dir, 'sub')), {
    message: /1 symbolic link\(s\) pointing outside the folder were skipped .*followLinks: true/,
  });
  t.throws(() => image.listImageFiles(path.join(dir, 'fifo.png')), {
    message: /fifo\.png' is not a regular file or a folder/,
  });
  t.throws(() => image.listImageFiles(dir, { followLinks: 'yes' }), {
    instanceOf: TypeError,
    message: /options\.followLinks must be a boolean/,
  });
});

test('class folders: links between classes of the root are kept, links out of the root skipped unless followLinks', (t) => {
  const { classFolderFiles } = require('../lib/io/dataset');
  const root = path.join(tmp, 'classes');
  fs.mkdirSync(path.join(root, 'cat'), { recursive: true });
  fs.mkdirSync(path.join(root, 'dog'));
  fs.writeFileSync(path.join(root, 'dog', 'b.webp'), solidWebp(4, 4, [0, 0, 0]));
  fs.symlinkSync(path.join(root, 'dog', 'b.webp'), path.join(root, 'cat', 'a.webp'));
  fs.symlinkSync('/etc/passwd', path.join(root, 'cat', 'c.jpg'));
  const labelOf = (name) => ({ cat: 0, dog: 1 })[name];
  const rel = (files) => files.map((f) => [path.relative(root, f.file), f.label]);
  t.deepEqual(rel(classFolderFiles(root, labelOf)), [
    ['cat/a.webp', 0],
    ['dog/b.webp', 1],
  ]);
  t.deepEqual(rel(classFolderFiles(root, labelOf, { followLinks: true })), [
    ['cat/a.webp', 0],
    ['cat/c.jpg', 0],
    ['dog/b.webp', 1],
  ]);
  const lonely = path.join(tmp, 'lonely');
  fs.mkdirSync(path.join(lonely, 'cat'), { recursive: true });
  fs.symlinkSync('/etc/passwd', path.join(lonely, 'cat', 'x.jpg'));
  t.throws(() => classFolderFiles(lonely, labelOf), {
    message: /no images in known class folders .*1 symbolic link\(s\) pointing outside the folder were skipped/,
  });
});

// ---------------------------------------------------------------------------------------------------
// The options from the command line.

test.serial(
  '--max-load-bytes, --max-load-expansion and --max-pixels reach the loaders; bad values exit 2',
  async (t) => {
    const { runCli } = require('./cli_run');
    const io = require('../lib/io');
    const weights = path.join(MODELS, 'convnext_tiny_k7.safetensors');
    const config = io.readSafetensors(path.join(MODELS, 'convnext_tiny_k7.io.safetensors')).metadata.config;
    const image = path.join(__dirname, 'fixtures', 'images', 'rgb.png');
    const predict = (...flags) =>
      runCli([
        'predict',
        '--model',
        'convnext_tiny',
        '--weights',
        weights,
        '--config',
        config,
        '--images',
        image,
        '--out',
        path.join(tmp, 'cli.safetensors'),
        '--quiet',
        ...flags,
      ]);
    let r = await predict('--max-load-bytes', '1KiB');
    t.is(r.code, 1, r.err);
    t.regex(
      r.err,
      /convnext_tiny_k7\.safetensors is [\d.]+ KiB, over the absolute limit maxBytes = 1 KiB.*--max-load-bytes/,
    );
    r = await predict('--max-load-expansion', '0.5', '--max-load-bytes', '1e9');
    t.is(r.code, 0, r.err); // the 64 MiB floor: a small file always loads
    r = await predict('--max-pixels', '100');
    t.is(r.code, 1, r.err);
    // The reason is the error, or a warning before it (where predict leaves unreadable images out).
    t.regex(r.out + r.err, /rgb\.png' is \d+x\d+ = [\d,]+ pixels, more than maxPixels = 100;.*--max-pixels/);
    for (const [flag, value, message] of [
      ['--max-load-bytes', '8 GiBs', /--max-load-bytes must be a size like 16GiB/],
      ['--max-load-expansion', '0', /--max-load-expansion must be a positive number/],
      ['--max-pixels', '-3', /--max-pixels must be an integer >= 1/],
    ]) {
      r = await predict(flag, value);
      t.is(r.code, 2, `${flag} ${value}: ${r.err}`);
      t.regex(r.err, message);
    }
  },
);

test('parseByteSize reads the sizes the flags document', (t) => {
  const { parseByteSize } = require('../lib/io/limits');
  t.is(parseByteSize('8GiB'), 8 * 2 ** 30);
  t.is(parseByteSize('8G'), 8 * 2 ** 30);
  t.is(parseByteSize('512 MiB'), 512 * 2 ** 20);
  t.is(parseByteSize('1.5GB'), 1.5e9);
  t.is(parseByteSize('2000000000'), 2e9);
  t.is(parseByteSize('1e9'), 1e9);
  for (const bad of ['', 'GiB', '-1G', '8 GiBs', '0x10']) t.true(Number.isNaN(parseByteSize(bad)), bad);
});

test.serial(
  'lkvit predict --images skips a link out of the folder and says so; --follow-links follows it',
  async (t) => {
    const { runCli } = require('./cli_run');
    const io = require('../lib/io');
    const dir = path.join(tmp, 'predict-links');
    fs.mkdirSync(dir);
    fs.symlinkSync(path.join(__dirname, 'fixtures', 'images', 'rgb.png'), path.join(dir, 'linked.png'));
    const config = io.readSafetensors(path.join(MODELS, 'convnext_tiny_k7.io.safetensors')).metadata.config;
    const predict = (...flags) =>
      runCli([
        'predict',
        '--model',
        'convnext_tiny',
        '--weights',
        path.join(MODELS, 'convnext_tiny_k7.safetensors'),
        '--config',
        config,
        '--crop',
        '32',
        '--out',
        path.join(tmp, 'links.safetensors'),
        '--quiet',
        ...flags,
      ]);
    let r = await predict('--images', dir);
    t.is(r.code, 1, r.err);
    t.regex(r.err, /no image files .* 1 symbolic link\(s\) pointing outside the folder were skipped .*--follow-links/);
    r = await predict('--images', dir, '--follow-links');
    t.is(r.code, 0, r.err);
    t.deepEqual(io.readSafetensors(path.join(tmp, 'links.safetensors')).tensors.get('logits').shape, [1, 10]);
    r = await predict('--input', path.join(tmp, 'links.safetensors'), '--follow-links');
    t.is(r.code, 2);
    t.regex(r.err, /--follow-links goes with --images/);
  },
);

test.serial('loadImageBatch decodes a bounded number of files at once', async (t) => {
  const sharp = require('sharp');
  const image = require('../lib/io/image');
  const files = Array.from({ length: 12 }, (_, i) => write(`c${i}.webp`, solidWebp(300, 200, [i, 2 * i, 3 * i])));
  const original = sharp.prototype.toBuffer;
  let inFlight = 0,
    most = 0;
  sharp.prototype.toBuffer = function (...args) {
    inFlight++;
    most = Math.max(most, inFlight);
    return original.apply(this, args).finally(() => inFlight--);
  };
  try {
    const batch = await image.loadImageBatch(files, { resize: 32, crop: 32 }, { concurrency: 3 });
    t.deepEqual(batch.shape, [12, 3, 32, 32]);
    t.is(batch.data[11 * 3 * 32 * 32], Math.fround(11 / 255), 'the last image in its place');
    t.true(most <= 3 && most >= 2, `at most ${most} decodes at once`);
    most = 0;
    await image.loadImageBatch(files, { resize: 32, crop: 32 });
    t.true(most <= 4, `default: at most ${most} decodes at once`);
  } finally {
    sharp.prototype.toBuffer = original;
  }
});
