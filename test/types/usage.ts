// Compiled (not run) by test/types.test.js against lib/index.d.ts: what an embedder writes must
// type-check, and misuse must not.
import * as lk from '../..';

const x: lk.Tensor = lk.tensor(new Float32Array(2 * 3 * 8 * 8), [2, 3, 8, 8], { requiresGrad: true });
const w = lk.tensor(new Float32Array(3 * 9), [3, 1, 3, 3]);
const y: lk.Tensor = lk.ops.depthwiseConv2d(x, w, { padding: 1, stride: [1, 1] });
y.sum().backward();
const g: lk.Tensor | null = x.grad;
const step: lk.Tensor = lk.ops.pgdStep(x.detach(), g!, { x0: x.detach(), eps: 8 / 255, alpha: 2 / 255, norm: 'l2' });
const q = lk.tensor(new Float32Array(2 * 4 * 5 * 8), [2, 4, 5, 8]);
const plain: lk.Tensor = lk.ops.attention(q, q, q);
const withProbs: { out: lk.Tensor; probs: lk.Tensor } = lk.ops.attention(q, q, q, { returnProbs: true });
const loss: number = lk.ops.crossEntropy(lk.ops.linear(lk.tensor(new Float32Array(6), [2, 3]), lk.tensor(new Float32Array(12), [4, 3])), [1, 2]).item();
const isa: 'generic' | 'avx2' | 'avx512' = lk.getIsa().active;
lk.setNumThreads(2);
lk.noGrad(() => lk.ops.relu(step));
void [plain, withProbs, loss, isa];

// @ts-expect-error: norm must be 'linf' or 'l2'
lk.ops.pgdStep(x, x, { x0: x, eps: 1, alpha: 1, norm: 'l1' });
// @ts-expect-error: tensor() data is a Float32Array or number[]
lk.tensor('abc', [3]);

// Models and checkpoints.
const model: lk.ImageClassifier = lk.createModel('convnext_tiny', { kernelSize: 13, numClasses: 10 });
const result: lk.ForwardResult = model.run(lk.zeros([1, 3, 64, 64]), { features: ['stages.0.blocks.0'], skip: [] });
const feats: Map<string, lk.Tensor> = result.features;
const loaded: { model: lk.ImageClassifier; report: lk.LoadReport } = lk.loadModel('resnet50', 'w.pth', { strict: false });
const rep: lk.RepLKNet = lk.createModel('replknet31b') as lk.RepLKNet;
rep.reparam();
const state: lk.StateDict = lk.loadStateDict('w.safetensors');
const kernels: Map<string, lk.Tensor> = model.depthwiseKernels();
lk.saveWeights(model, 'out.safetensors');
const img: Promise<{ data: Float32Array; shape: [number, 3, number, number] }> = lk.loadImageBatch(['a.jpg'], { resize: 256, crop: 224 });
void [feats, loaded, state, kernels, img];
// @ts-expect-error: features takes a boolean or block names
model.run(lk.zeros([1, 3, 64, 64]), { features: 3 });
