// The real CUDA build: when nvcc is present, CMakeLists.txt is built through cmake-js (offline)
// into a temporary folder, and the test checks ptxas's report (every kernel for sm_80 and sm_90,
// no spills, no stack frame), the addon's fat binaries (sm_80 and sm_90 SASS, compute_90 PTX), and
// that the addon loads on a machine without a driver and says why. Without nvcc it skips, visibly.
'use strict';
const test = require('ava');
const { execFile } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.join(__dirname, '..');
const nvcc = [process.env.CUDACXX, '/usr/local/cuda/bin/nvcc'].find((p) => p && fs.existsSync(p));

// The fat binaries embedded in a file: [{ kind: 'sass' | 'ptx', arch }] per fatbin (header magic
// 0xBA55ED50; each entry: kind u16 (1 PTX, 2 ELF), header size u32 at +4, payload size u64 at +8,
// arch u32 at +28).
function fatbins(buf) {
  const found = [];
  const magic = Buffer.from([0x50, 0xed, 0x55, 0xba]);
  for (let off = buf.indexOf(magic); off >= 0; off = buf.indexOf(magic, off + 4)) {
    const headerSize = buf.readUInt16LE(off + 6),
      size = Number(buf.readBigUInt64LE(off + 8));
    const entries = [];
    for (let e = off + headerSize; e < off + headerSize + size;) {
      const kind = buf.readUInt16LE(e);
      entries.push({ kind: kind === 2 ? 'sass' : kind === 1 ? 'ptx' : `kind${kind}`, arch: buf.readUInt32LE(e + 28) });
      e += buf.readUInt32LE(e + 4) + Number(buf.readBigUInt64LE(e + 8));
    }
    found.push(entries);
    off += headerSize + size - 4;
  }
  return found;
}

// ptxas -v: "Compiling entry function 'X' for 'sm_80'" then "N bytes stack frame, N bytes spill stores, N bytes spill loads".
function ptxasReport(log) {
  const kernels = [];
  const re =
    /Compiling entry function '([^']+)' for '(sm_\d+)'[\s\S]*?(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads/g;
  for (let m; (m = re.exec(log));)
    kernels.push({ name: m[1], arch: m[2], stack: +m[3], spillStores: +m[4], spillLoads: +m[5] });
  return kernels;
}

if (!nvcc) {
  test.skip('cuda build: nvcc not found (CUDACXX or /usr/local/cuda/bin/nvcc); the nvcc build checks are skipped', () => {});
} else {
  let build;
  test.before(async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'lkvit-cuda-build-'));
    const start = process.hrtime.bigint();
    const log = await new Promise((resolve, reject) => {
      execFile(
        process.execPath,
        [require.resolve('cmake-js/bin/cmake-js'), 'build', '--out', out],
        { cwd: root, maxBuffer: 256 << 20 },
        (err, stdout, stderr) =>
          err ? reject(new Error(`cmake-js build failed:\n${stdout}\n${stderr}`)) : resolve(stdout + stderr),
      );
    });
    build = {
      out,
      log,
      addon: path.join(out, 'Release', 'lkvit_cuda.node'),
      seconds: Number(process.hrtime.bigint() - start) / 1e9,
    };
  });
  test.after.always(() => build && fs.rmSync(build.out, { recursive: true, force: true }));

  test('cuda build: every kernel compiled for sm_80 and sm_90 with no spills and no stack frame', (t) => {
    t.log(`cmake-js + nvcc build: ${build.seconds.toFixed(1)} s`);
    t.false(/downloading|http/i.test(build.log.replace(/-DCMAKE_JS_INC=[^\n]*/g, '')), 'cmake-js downloaded nothing');
    const kernels = ptxasReport(build.log);
    const names = [...new Set(kernels.map((k) => k.name))];
    t.true(names.length >= 9, `ptxas reported ${names.length} kernels`);
    for (const name of names)
      for (const arch of ['sm_80', 'sm_90']) {
        const k = kernels.find((x) => x.name === name && x.arch === arch);
        t.truthy(k, `${name} for ${arch}`);
        if (k)
          t.deepEqual(
            [k.stack, k.spillStores, k.spillLoads],
            [0, 0, 0],
            `${name} (${arch}): stack, spill stores, spill loads`,
          );
      }
    for (const family of [
      'dwconv_tile_kernel',
      'dwconv_backward_weight_kernel',
      'l2_lanes_kernel',
      'sgemm_tiled_kernel',
      'attention_grad_kv_kernel',
      'im2col_kernel',
      'col2im_kernel',
      'batch_norm_forward_kernel',
      'norm_param_grad_kernel',
      'channel_norm_backward_input_kernel',
      'softmax_forward_kernel',
      'cross_entropy_forward_kernel',
      'pool_backward_kernel',
      'strided_copy_kernel',
      'reduce_sum_block_kernel',
    ])
      t.true(
        names.some((n) => n.includes(family)),
        `${family} was compiled`,
      );
  });

  test('cuda build: the addon holds sm_80 and sm_90 SASS and compute_90 PTX for every source', (t) => {
    const bins = fatbins(fs.readFileSync(build.addon));
    t.is(
      bins.length,
      9,
      'one fat binary per .cu file (runtime, dwconv, steps, gemm, attention, conv, norm, nn, tensor)',
    );
    for (const entries of bins) {
      const has = (kind, arch) => entries.some((e) => e.kind === kind && e.arch === arch);
      t.true(has('sass', 80) && has('sass', 90) && has('ptx', 90), JSON.stringify(entries));
    }
  });

  test('cuda build: the addon loads without a GPU and reports why, or runs on one', (t) => {
    const addon = require(build.addon);
    const info = addon.info();
    t.is(info.backend, 'cuda');
    if (!info.available) {
      t.regex(info.reason, /cudaError\w+|no CUDA device/);
      t.log(`no GPU here: ${info.reason}`);
      return;
    }
    const out = new Float32Array(4);
    addon.fgsmStep(Float32Array.from([0.5, 0.25, 0.98, 0.02]), Float32Array.from([1, -2, 3, 0]), 0.125, 0, 1, out);
    t.deepEqual(Array.from(out), [0.625, 0.125, 1, Math.fround(0.02)]);
    t.log(`GPU: ${info.name}, compute capability ${info.computeCapability}`);
  });
}
