// Checkpoint input and output: safetensors, torch.save zip checkpoints, and state dicts.
export type { DType, StateTensor, StateDict } from './dtype';
export { isStateTensor } from './dtype';
export { CheckpointError, loadStateDict, STATE_DICT_KEYS } from './checkpoint';
export { parseSafetensors, readSafetensors, serializeSafetensors, writeSafetensors } from './safetensors';
export type { Safetensors, TensorsToWrite } from './safetensors';
export { parseTorchCheckpoint, readTorchCheckpoint } from './torch';
export type { LoadLimits } from './limits';
export { LoadLimitError, DEFAULT_MAX_LOAD_BYTES, DEFAULT_MAX_EXPANSION } from './limits';
export { printable } from './errors';
