// sha256File (src/io/hash.ts), the hash every report records for its weights and inputs.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const test = require('ava');
const { sha256File } = require('../lib/io/hash');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lkvit-hash-'));
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('sha256File gives the FIPS 180-2 digests of "abc" and of the empty file', async (t) => {
  const abc = path.join(tmp, 'abc'),
    empty = path.join(tmp, 'empty');
  fs.writeFileSync(abc, 'abc');
  fs.writeFileSync(empty, '');
  t.is(await sha256File(abc), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  t.is(await sha256File(empty), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
});

test('sha256File reads a file larger than one stream chunk whole: one flipped byte at the end changes the digest', async (t) => {
  const big = path.join(tmp, 'big');
  const bytes = Buffer.alloc(200_000, 7);
  fs.writeFileSync(big, bytes);
  const first = await sha256File(big);
  bytes[bytes.length - 1] ^= 1;
  fs.writeFileSync(big, bytes);
  t.not(await sha256File(big), first);
});

test('a missing file rejects naming the caller, the argument and the file', async (t) => {
  const missing = path.join(tmp, 'nope.pth');
  await t.throwsAsync(sha256File(missing, 'evaluateSuite', 'weightsPath'), {
    message: new RegExp(`^evaluateSuite: cannot read weightsPath '${missing.replace(/[.\\/]/g, '\\$&')}': ENOENT`),
  });
  await t.throwsAsync(sha256File(missing), { message: /^sha256File: cannot read file/ });
});
