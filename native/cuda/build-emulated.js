#!/usr/bin/env node
// Builds the emulated CUDA addon: the same .cu sources as the nvcc build, compiled by g++ as C++
// against the SIMT emulation (native/cuda/emu), into build-cuda-emu/lkvit_cuda_emu.node. No nvcc.
//   node native/cuda/build-emulated.js            -O1, cached per object file
//   node native/cuda/build-emulated.js --asan     ASan + UBSan, into build-cuda-emu/asan/
//   node native/cuda/build-emulated.js --force    rebuild everything
// An object is rebuilt when its source, any header under native/cuda or this script is newer.
'use strict';
const { execFile } = require('child_process');
const fs = require('fs');
const path = require('path');
const os = require('os');

const root = path.resolve(__dirname, '..', '..');
const cudaDir = path.join(root, 'native', 'cuda');
// Every kernel file (native/cuda/*.cu), the host files (*.cc) and the bindings (binding/*.cc), as
// CMakeLists.txt globs them, plus the emulation itself.
const SOURCES = [
  'emu/simt.cc', 'emu/planted.cu',
  ...fs.readdirSync(cudaDir).filter((f) => /\.(cu|cc)$/.test(f)).sort(),
  ...fs.readdirSync(path.join(cudaDir, 'binding')).filter((f) => f.endsWith('.cc')).sort().map((f) => `binding/${f}`),
];

function outputPaths(asan) {
  const dir = path.join(root, 'build-cuda-emu', ...(asan ? ['asan'] : []));
  return { dir, addon: path.join(dir, 'lkvit_cuda_emu.node') };
}

function flags(asan) {
  const napiHeaders = path.dirname(require.resolve('node-api-headers/package.json'));
  const addonApi = path.dirname(require.resolve('node-addon-api/package.json'));
  return [
    '-x', 'c++', '-std=c++17', '-fPIC', '-pthread',
    '-O1', '-g0',
    // Hardware FMA where the CPU has it: fmaf is otherwise a slow libm call.
    '-march=native',
    // No FMA contraction: the attack steps must match the CPU engine bit for bit.
    '-ffp-contract=off',
    '-Wall', '-Wextra', '-Wno-unused-parameter', '-Wno-unknown-pragmas', '-Werror',
    '-DNAPI_VERSION=8', '-DNODE_ADDON_API_CPP_EXCEPTIONS', '-DNODE_ADDON_API_CPP_EXCEPTIONS_ALL',
    '-DNODE_ADDON_API_DISABLE_DEPRECATED', '-DLK_CUDA_EMULATED_BUILD=1',
    `-I${path.join(napiHeaders, 'include')}`, `-I${addonApi}`, `-I${path.join(root, 'native')}`,
    ...(asan ? ['-fsanitize=address,undefined', '-fno-sanitize-recover=undefined', '-fno-omit-frame-pointer', '-g'] : []),
  ];
}

function newestHeader() {
  let t = fs.statSync(__filename).mtimeMs;
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.h')) t = Math.max(t, fs.statSync(p).mtimeMs);
    }
  };
  walk(cudaDir);
  t = Math.max(t, fs.statSync(path.join(root, 'native', 'binding', 'napi_util.h')).mtimeMs);
  return t;
}

function run(cmd, args) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}\n${stderr || stdout || err.message}`));
      else resolve();
    });
  });
}

// Several test files build at once (ava runs files in parallel processes): one builds, the others
// wait for its lock (a directory, created atomically; taken over when older than 10 minutes).
async function withLock(dir, work) {
  fs.mkdirSync(dir, { recursive: true });
  const lock = path.join(dir, '.build-lock');
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      try {
        if (Date.now() - fs.statSync(lock).mtimeMs > 600e3) fs.rmSync(lock, { recursive: true, force: true });
      } catch {
        // released meanwhile
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await work();
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

/** Builds (or reuses) the emulated addon; returns { addon, compiled, seconds }. */
async function buildEmulated(options = {}) {
  return withLock(outputPaths(Boolean(options.asan)).dir, () => buildUnlocked(options));
}

async function buildUnlocked({ asan = false, force = false, jobs = Math.max(1, Math.min(2, os.cpus().length)) } = {}) {
  const start = process.hrtime.bigint();
  const { dir, addon } = outputPaths(asan);
  const objDir = path.join(dir, 'obj');
  fs.mkdirSync(objDir, { recursive: true });
  const cxx = process.env.CXX || 'g++';
  const f = flags(asan);
  const flagStamp = path.join(objDir, 'flags.txt');
  const flagText = [cxx, ...f].join(' ');
  const sameFlags = fs.existsSync(flagStamp) && fs.readFileSync(flagStamp, 'utf8') === flagText;
  const headers = newestHeader();
  const todo = [];
  const objects = SOURCES.map((src) => {
    const obj = path.join(objDir, src.replace(/[/.]/g, '_') + '.o');
    const srcPath = path.join(cudaDir, src);
    const stale = force || !sameFlags || !fs.existsSync(obj) ||
      fs.statSync(obj).mtimeMs < Math.max(headers, fs.statSync(srcPath).mtimeMs);
    if (stale) todo.push({ srcPath, obj });
    return obj;
  });
  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      const { srcPath, obj } = todo[next++];
      await run(cxx, [...f, '-c', srcPath, '-o', obj]);
    }
  };
  await Promise.all(Array.from({ length: jobs }, worker));
  fs.writeFileSync(flagStamp, flagText);
  if (todo.length || !fs.existsSync(addon)) {
    const ld = ['-shared', '-pthread', ...(asan ? ['-fsanitize=address,undefined'] : []), '-o', addon, ...objects];
    await run(cxx, ld);
  }
  return { addon, compiled: todo.length, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
}

module.exports = { buildEmulated, outputPaths };

if (require.main === module) {
  const args = process.argv.slice(2);
  buildEmulated({ asan: args.includes('--asan'), force: args.includes('--force') }).then(
    (r) => console.log(`${path.relative(root, r.addon)}: ${r.compiled} of ${SOURCES.length} objects compiled in ${r.seconds.toFixed(1)} s`),
    (e) => {
      console.error(e.message);
      process.exit(1);
    },
  );
}
