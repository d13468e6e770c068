// The published folder layouts of ImageNet and its robustness variants, read into subsets of samples:
//   val, -A, -R, -O      root/WNID/*.JPEG
//   -C                   root/CORRUPTION/SEVERITY/WNID/*.JPEG
//   -P (frames)          root/PERTURBATION[_D]/WNID/VIDEO/*.png|jpg   (see README: ffmpeg turns the .mp4s into this)
//   -9                   root/VARIANT/val/NN_name/*.JPEG
import * as fs from 'fs';
import * as path from 'path';
import { classFolderFiles } from '../io/dataset';
import { listImageFiles } from '../io/image';
import { IMAGENET_WNIDS, imagenetIndex } from './classes';

/** One evaluated unit: an image, or an ImageNet-P video (its frames in order). */
export interface Sample {
  /** Stable across runs: the path below the data root, with '/' separators. */
  id: string;
  files: string[];
  label: number;
  /** The class folder's name (a wnid, or NN_name for ImageNet-9). */
  className: string;
}

export interface Subset {
  /** e.g. 'val', 'gaussian_noise/3', 'mixed_rand', 'gaussian_noise_2'. */
  name: string;
  samples: Sample[];
}

function relativeId(root: string, file: string): string {
  return path.relative(root, file).split(path.sep).join('/');
}

function subdirectories(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

/** Checks that `dir` is a readable folder, naming the option it came from. */
export function checkFolder(option: string, dir: unknown): string {
  if (typeof dir !== 'string' || dir === '')
    throw new TypeError(`evaluateSuite: ${option} must be a folder path, got ${typeof dir}`);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch {
    throw new RangeError(`evaluateSuite: ${option} '${dir}' does not exist`);
  }
  if (!stat.isDirectory()) throw new RangeError(`evaluateSuite: ${option} '${dir}' is not a folder`);
  return dir;
}

/** Label of a class folder: its position in `wnids` (ImageNet index order when wnids is the full list). */
export function wnidLabels(wnids: readonly string[]): (folder: string) => number | undefined {
  const at = new Map(wnids.map((w, i) => [w, i]));
  return (folder) => at.get(folder);
}

/** root/WNID/* as one subset; `idRoot` is where ids are taken relative to (the data root). */
export function classFolderSubset(name: string, root: string, wnids: readonly string[], idRoot = root): Subset {
  const files = classFolderFiles(root, wnids === IMAGENET_WNIDS ? imagenetIndex : wnidLabels(wnids));
  return {
    name,
    samples: files.map((f) => ({
      id: relativeId(idRoot, f.file),
      files: [f.file],
      label: f.label,
      className: f.folder,
    })),
  };
}

/** ImageNet-C: one subset per corruption and severity found. */
export function corruptionSubsets(root: string): Subset[] {
  const out: Subset[] = [];
  for (const corruption of subdirectories(root))
    for (const severity of subdirectories(path.join(root, corruption)).filter((s) => /^[1-5]$/.test(s)))
      out.push(
        classFolderSubset(`${corruption}/${severity}`, path.join(root, corruption, severity), IMAGENET_WNIDS, root),
      );
  if (out.length === 0)
    throw new RangeError(
      `evaluateSuite: no CORRUPTION/SEVERITY(1..5)/WNID folders under '${root}' (the ImageNet-C layout)`,
    );
  return out;
}

export const IN9_VARIANTS = Object.freeze(['original', 'mixed_same', 'mixed_rand']);

/** ImageNet-9: one subset per variant found; the label is the folder's leading number. */
export function backgroundSubsets(root: string): Subset[] {
  const labelOf = (folder: string) => {
    const m = /^(\d+)_/.exec(folder);
    return m && Number(m[1]) <= 8 ? Number(m[1]) : undefined;
  };
  const out: Subset[] = [];
  for (const variant of IN9_VARIANTS) {
    const dir = path.join(root, variant, 'val');
    if (!fs.existsSync(dir)) continue;
    const files = classFolderFiles(dir, labelOf);
    out.push({
      name: variant,
      samples: files.map((f) => ({
        id: relativeId(root, f.file),
        files: [f.file],
        label: f.label,
        className: f.folder,
      })),
    });
  }
  if (out.length === 0)
    throw new RangeError(
      `evaluateSuite: none of ${IN9_VARIANTS.join(', ')} has a val/ folder under '${root}' (the ImageNet-9 layout)`,
    );
  return out;
}

/** ImageNet-P folder name -> perturbation and difficulty: 'gaussian_noise_2' is gaussian_noise at difficulty 2. */
export function parsePerturbation(folder: string): { perturbation: string; difficulty: number | null } {
  const m = /^(.*)_([1-9])$/.exec(folder);
  return m ? { perturbation: m[1], difficulty: Number(m[2]) } : { perturbation: folder, difficulty: null };
}

/** ImageNet-P as frame folders: one subset per perturbation folder, one sample per video folder. */
export function perturbationSubsets(root: string): Subset[] {
  const out: Subset[] = [];
  for (const folder of subdirectories(root)) {
    const samples: Sample[] = [];
    for (const wnid of subdirectories(path.join(root, folder))) {
      const label = imagenetIndex(wnid);
      if (label === undefined) continue;
      for (const video of subdirectories(path.join(root, folder, wnid))) {
        const dir = path.join(root, folder, wnid, video);
        let frames: string[];
        try {
          frames = listImageFiles(dir);
        } catch {
          continue; // not a frame folder
        }
        samples.push({ id: relativeId(root, dir), files: frames, label, className: wnid });
      }
    }
    if (samples.length) out.push({ name: folder, samples });
  }
  if (out.length === 0)
    throw new RangeError(
      `evaluateSuite: no PERTURBATION/WNID/VIDEO/ frame folders under '${root}' (ImageNet-P's videos as frames; see the README)`,
    );
  return out;
}
