// Compiled (not run) by test/types.test.js under plain `tsc --strict` (no esModuleInterop): the
// default import an ESM user writes must type-check and reach the same API.
import lk from '../..';

const x = lk.tensor(new Float32Array(4), [1, 1, 2, 2]);
const y: number = lk.ops.relu(x).sum().item();
const model = lk.createModel('resnet50', { numClasses: 10 });
void [y, model];
