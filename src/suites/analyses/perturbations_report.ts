// lkvit analyze perturbations' files: perturbations.png (the grid), perturbations.html (the grid
// under its column headings, and each sample's label and predictions) and perturbations.json (the
// numbers, without the maps). The PNG goes through sharp, as every figure of the package does.
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { escapeXml } from '../../plot/svg';
import { PerturbationViewsResult, perturbationGrid } from './perturbations';

export const PERTURBATION_FILES = ['perturbations.png', 'perturbations.html', 'perturbations.json'];

/** The result as JSON: settings, labels, predictions and norms per model (the maps are in the PNG). */
export function perturbationSummary(result: PerturbationViewsResult, columns: string[]): Record<string, unknown> {
  const l2 = (t: { data: Float32Array; shape: readonly number[] }, n: number) => {
    const D = t.data.length / t.shape[0];
    let s = 0;
    for (let i = n * D; i < (n + 1) * D; i++) s += t.data[i] * t.data[i];
    return Math.sqrt(s);
  };
  return {
    samples: result.samples,
    eps: result.eps,
    steps: result.steps,
    space: result.space,
    normalization: result.normalization,
    labels: result.labels,
    ids: result.ids,
    columns,
    image: 'perturbations.png',
    models: result.models.map((m) => ({
      label: m.label,
      cleanPred: m.cleanPred,
      advPred: m.advPred,
      linf: m.linf,
      gradientL2: Array.from({ length: result.samples }, (_, n) => l2(m.gradient, n)),
    })),
  };
}

const NORMALIZATION_TEXT = {
  minmax: 'each map scaled per image (its three channels together) by its own minimum and maximum to [0, 1]',
  symmetric: 'each map scaled per image (its three channels together) by its largest |value|, zero at mid-grey (0.5)',
};

export function perturbationHtml(
  result: PerturbationViewsResult,
  grid: { width: number; height: number; columns: string[]; cell: [number, number] },
  gap: number,
): string {
  const e = escapeXml;
  const heads = grid.columns
    .map((c) => `<div class="head" style="width:${grid.cell[0] + gap}px">${e(c)}</div>`)
    .join('');
  const rows = result.labels.map(
    (y, n) =>
      `<tr><td>${e(result.ids[n])}</td><td>${y}</td>${result.models.map((m) => `<td>${m.cleanPred[n]}</td><td>${m.advPred[n]}</td>`).join('')}</tr>`,
  );
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>lkvit: adversarial perturbations and input gradients</title>
<style>
body { font-family: sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
.heads { display: flex; padding-left: ${gap}px; font-size: 80%; }
.head { box-sizing: border-box; padding-right: ${gap}px; overflow-wrap: anywhere; }
img { image-rendering: pixelated; display: block; }
table { border-collapse: collapse; margin: 1em 0; font-size: 90%; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
</style>
</head>
<body>
<h1>Adversarial perturbations and input gradients</h1>
<p>A row per sample. Columns: the image, then for each model its PGD perturbation x_adv − x (L-inf eps ${+result.eps.toFixed(5)} in ${result.space} units, ${result.steps} steps) and its input gradient d cross-entropy / dx at the clean image; ${e(NORMALIZATION_TEXT[result.normalization])}.</p>
<div class="heads">${heads}</div>
<img src="perturbations.png" width="${grid.width}" height="${grid.height}" alt="the grid of images, perturbations and gradients">
<table>
<tr><th>sample</th><th>label</th>${result.models.map((m) => `<th>${e(m.label)} clean</th><th>${e(m.label)} attacked</th>`).join('')}</tr>
${rows.join('\n')}
</table>
<p>The numbers: <a href="perturbations.json">perturbations.json</a>.</p>
</body>
</html>
`;
}

/** Writes perturbations.png, .html and .json into `dir`; returns their names. */
export async function writePerturbationViews(
  dir: string,
  result: PerturbationViewsResult,
  meta: Record<string, unknown> = {},
  options: { scale?: number; gap?: number } = {},
): Promise<string[]> {
  const gap = options.gap ?? 2;
  const grid = perturbationGrid(result, { ...options, gap });
  const png = await sharp(Buffer.from(grid.rgb), { raw: { width: grid.width, height: grid.height, channels: 3 } })
    .png()
    .toBuffer();
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'perturbations.png'), png);
  fs.writeFileSync(path.join(dir, 'perturbations.html'), perturbationHtml(result, grid, gap));
  fs.writeFileSync(
    path.join(dir, 'perturbations.json'),
    JSON.stringify({ ...meta, result: perturbationSummary(result, grid.columns) }, null, 2) + '\n',
  );
  return PERTURBATION_FILES.slice();
}
