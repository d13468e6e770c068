// Saving a module's weights: every parameter and buffer under its PyTorch key, as float32
// safetensors that PyTorch (safetensors.torch.load_file + load_state_dict) and lkvit both read.
import { writeSafetensors } from '../io/safetensors';
import { Module } from './module';

export function saveWeights(module: Module, path: string, metadata: Record<string, string> = {}): void {
  if (!(module instanceof Module)) throw new TypeError('saveWeights: module must be an lkvit Module');
  if (typeof path !== 'string' || path === '') throw new TypeError('saveWeights: path must be a non-empty string');
  const tensors = new Map([...module.stateDict()].map(([k, t]) => [k, { shape: t.shape, data: t.data }]));
  writeSafetensors(path, tensors, metadata);
}
