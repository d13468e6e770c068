#!/usr/bin/env node
// Part of `npm pack` (prepack): when nvcc is found, builds the CUDA addon (`npm run build:cuda`)
// and ships it as prebuilds/cuda-<platform>-<arch>/lkvit_cuda.node, a separate binary that
// src/cuda.ts loads only when it is usable (node-gyp-build never sees it: it reads only
// prebuilds/<platform>-<arch>/). Without nvcc the package carries no CUDA binary, and says so.
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const root = path.join(__dirname, '..', '..');
const nvcc = ['/usr/local/cuda/bin/nvcc', ...(process.env.PATH || '').split(path.delimiter).map((d) => path.join(d, 'nvcc'))]
  .find((f) => fs.existsSync(f));
if (!nvcc) {
  console.log('prebuild: no nvcc found; the package carries no CUDA binary (the CPU engine is unaffected)');
  process.exit(0);
}
execFileSync('npm', ['run', '--silent', 'build:cuda'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
const built = path.join(root, 'build-cuda', 'Release', 'lkvit_cuda.node');
const dir = path.join(root, 'prebuilds', `cuda-${process.platform}-${process.arch}`);
fs.mkdirSync(dir, { recursive: true });
fs.copyFileSync(built, path.join(dir, 'lkvit_cuda.node'));
console.log(`prebuild: CUDA addon built with ${nvcc} -> ${path.relative(root, dir)}/lkvit_cuda.node`);
