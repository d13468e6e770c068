// Which device a run computes on. Library calls take `device` ('cpu' | 'cuda'): the model moves
// there for the call and back afterwards (its batches are copied in and its logits out by
// ImageClassifier.forward). The CLI's --device also takes 'auto' (a real CUDA device when there
// is one, else the CPU; never the emulation); LKVIT_DEVICE=cpu|cuda sets the default, and 'cuda' without a device is an error.
import { Device, checkDevice } from '../tensor/device';
import { available as cudaAvailable, info as cudaInfo } from '../cuda';
import { ImageClassifier } from './classifier';
import type { Classifier } from './evaluate';

export type DeviceChoice = Device | 'auto';

/** The device a CLI run uses: --device (cpu, cuda, auto), else LKVIT_DEVICE, else auto. */
export function resolveDevice(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): Device {
  const from = flag !== undefined ? '--device' : env.LKVIT_DEVICE ? 'LKVIT_DEVICE' : null;
  const value = flag ?? env.LKVIT_DEVICE ?? 'auto';
  // auto never picks the emulation (a test tool): only a real device.
  if (value === 'auto') return cudaAvailable() && cudaInfo().backend === 'cuda' ? 'cuda' : 'cpu';
  if (value !== 'cpu' && value !== 'cuda')
    throw new RangeError(`${from ?? '--device'} must be cpu, cuda or auto, got '${value}'`);
  if (value === 'cuda' && !cudaAvailable())
    throw new Error(`${from}: cuda was asked for, but CUDA is not available: ${cudaInfo().reason}`);
  return value;
}

/** Runs work with the model (and any extra models) on `device`, then moves them back. With
 * device undefined nothing moves. A model given as a function cannot move: it computes where
 * its own tensors are. */
export async function withDevice<T>(
  op: string,
  device: unknown,
  models: (Classifier | undefined)[],
  work: () => Promise<T>,
): Promise<T> {
  if (device === undefined) return work();
  const d = checkDevice(op, 'device', device);
  if (d === 'cuda' && !cudaAvailable())
    throw new Error(`${op}: device 'cuda' was asked for, but CUDA is not available: ${cudaInfo().reason}`);
  const moved: [ImageClassifier, Device][] = [];
  try {
    for (const m of models) {
      if (m === undefined) continue;
      if (!(m instanceof ImageClassifier)) {
        if (d !== 'cpu')
          throw new TypeError(
            `${op}: device '${d}' needs an ImageClassifier model; a model given as a function runs where its own tensors are`,
          );
        continue;
      }
      if (moved.some(([x]) => x === m)) continue;
      moved.push([m, m.device]);
      m.to(d);
    }
    return await work();
  } finally {
    for (const [m, prev] of moved) m.to(prev);
  }
}
