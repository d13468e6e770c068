// The hostile-argument fuzzing of test/hostile.native.test.js, run against the emulated CUDA addon:
// every function (the CPU addon's compute functions, the dwconv bias gradient, the device queries
// and the general tensor kernels) called with extreme integers, wrong lengths and wrong types must
// return or throw a clear "lkvit native: <function>: <argument> ..." error, quickly, never crash.
// bash test/cuda-asan.sh runs the emulated kernels under AddressSanitizer.
'use strict';
const path = require('path');
const { execFileSync } = require('child_process');

process.env.LKVIT_CUDA_EMULATED = '1';
process.env.LKVIT_FUZZ_CUDA = '1';
process.env.LKVIT_FUZZ_TRIALS ||= '16000'; // the conv input gradient needs many draws to meet a geometry that runs
// The harness loads the addon when it is required: build it first (cached, under the build lock).
execFileSync(process.execPath, [path.join(__dirname, '..', 'native', 'cuda', 'build-emulated.js')], {
  stdio: 'ignore',
});
require('./hostile.native.test.js');
