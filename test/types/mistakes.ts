// Compiled (not run) by test/types.test.js: every line under a `@ts-expect-error` is a mistake
// that `tsc --strict` must reject; when one compiles, the directive itself becomes an error and the
// test names the line. The lines without the directive must compile.
import * as lk from '../..';

declare const data: lk.LabeledDataset;
const model = lk.createModel('vit_ti16', { depth: 2, numHeads: 3, imageSize: 32, numClasses: 10 });

// Models: each name takes its own family's options, with their types.
// @ts-expect-error: depth is a number
lk.createModel('vit_ti16', { depth: 'two' });
// @ts-expect-error: a misspelt option (depht)
lk.createModel('vit_ti16', { depht: 2 });
// @ts-expect-error: kernelSize is a ConvNeXt option, not a ViT one
lk.createModel('vit_ti16', { kernelSize: 13 });
// @ts-expect-error: a misspelt model name
lk.createModel('vit_t16');
// @ts-expect-error: kernelSizes is a list of numbers
lk.createModel('replknet31b', { kernelSizes: 31 });
// @ts-expect-error: loadModel takes the same typed options (kernelSize is a number)
lk.loadModel('convnext_tiny', 'w.safetensors', { kernelSize: '13' });
// @ts-expect-error: strict is a boolean
lk.loadModel('convnext_tiny', 'w.safetensors', { strict: 'no' });
lk.createModel('convnext_tiny', { kernelSize: 13, mean: [0.5, 0.5, 0.5] });
// A name chosen at run time is checked at run time.
const runtimeName: string = 'vit_ti16';
lk.createModel(runtimeName, { depth: 2 });
const fromFile: lk.ImageClassifier = lk.loadModel('w.safetensors').model;
// The names and option types are exported for an embedder's own code.
const chosen: lk.ModelName = 'convnext_tiny';
const vitOptions: lk.ModelOptionsFor<'vit_ti16'> = { depth: 2, numHeads: 3 };
lk.createModel(chosen);
lk.createModel('vit_ti16', vitOptions);
// @ts-expect-error: not a model name
const notAName: lk.ModelName = 'vit_b99';
void notAName;
// Nullable results say so.
// @ts-expect-error: modelName is null for a model built from its class
const name: string = model.modelName;
// @ts-expect-error: imageSize is null for a model that takes any size
const side: number = model.imageSize;
void [fromFile, name, side];

// Attacks: `attack` picks the type of `options`.
async function attacks(): Promise<void> {
  // @ts-expect-error: a misspelt attack name
  await lk.runAttack(model, data, { attack: 'pgdd', options: { eps: 4 / 255 } });
  // @ts-expect-error: eps is a number
  await lk.runAttack(model, data, { attack: 'pgd', options: { eps: 'big' } });
  // @ts-expect-error: a misspelt option of pgd (stpes)
  await lk.runAttack(model, data, { attack: 'pgd', options: { eps: 4 / 255, stpes: 10 } });
  // @ts-expect-error: queries is Square's, not FGSM's
  await lk.runAttack(model, data, { attack: 'fgsm', options: { eps: 4 / 255, queries: 100 } });
  // @ts-expect-error: eps is required
  await lk.runAttack(model, data, { attack: 'pgd', options: { steps: 10 } });
  const r = await lk.runAttack(model, data, { attack: 'square', options: { eps: 4 / 255, queries: 100, norm: 'linf' } });
  // @ts-expect-error: xAdv is null under keepAdversarial: false
  void r.xAdv.shape;
  // @ts-expect-error: an analysis with a misspelt attack
  await lk.analyses.attackCurve(model, data, { attack: 'fgsmm', values: [1 / 255] });
  // @ts-expect-error: an analysis option of the wrong type (patchSize is a number)
  await lk.analyses.occlusion(model, data, { patchSize: 'big' });
  // @ts-expect-error: a misspelt analysis option (ratio for ratios)
  await lk.analyses.occlusion(model, data, { ratio: [0.5] });
  await lk.analyses.attackCurve(model, data, { attack: 'pgd', values: [1 / 255], options: { steps: 5 } });
  const attack: lk.AttackName = 'apgd-t';
  const apgdT: lk.AttackOptionsByName['apgd-t'] = { eps: 4 / 255, numTargets: 3 };
  await lk.runAttack(model, data, { attack, options: apgdT });
}

// Suites: each suite takes its own options.
async function suites(): Promise<void> {
  // @ts-expect-error: a misspelt suite name
  await lk.evaluateSuite(model, { suite: 'imagenet-x', data: 'd' });
  // @ts-expect-error: severity is imagenet-c's
  await lk.evaluateSuite(model, { suite: 'imagenet-a', data: 'd', severity: 3 });
  // @ts-expect-error: imagenet-o needs inDistribution
  await lk.evaluateSuite(model, { suite: 'imagenet-o', data: 'd' });
  await lk.evaluateSuite(model, { suite: 'imagenet-c', data: 'd', severity: 3 });
  await lk.evaluateSuite(model, { suite: 'imagenet-o', data: 'd', inDistribution: 'val' });
}
void [attacks, suites];
