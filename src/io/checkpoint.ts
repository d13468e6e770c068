// One entry point for model weights, whatever wrote them: safetensors files and torch.save
// checkpoints, told apart by their first bytes (extensions lie: .bin is used for both).
import { StateDict, isStateTensor } from './dtype';
import { CheckpointError, describeValue, printable } from './errors';
import { LoadBudget, LoadLimits, checkLoadLimits, readRegularFileSync } from './limits';
import { parseSafetensorsFrom } from './safetensors';
import { parseTorch } from './torch';

export { CheckpointError };
export type { LoadLimits };

/** Keys that training scripts wrap a state dict in, tried in this order. */
export const STATE_DICT_KEYS: readonly string[] = ['state_dict', 'model', 'module', 'model_ema', 'state_dict_ema'];
const DATA_PARALLEL_PREFIX = 'module.';

/**
 * Reads a .safetensors file or a torch zip checkpoint (detected by content, not extension) and
 * returns its state dict, every tensor as float32.
 *
 * A torch checkpoint whose top-level dict holds a dict of tensors under 'state_dict', 'model',
 * 'module', 'model_ema' or 'state_dict_ema' is unwrapped to the first of these, in that order (so
 * the raw weights win over EMA weights). Entries that are not tensors (epoch numbers, optimizer
 * state, hyper-parameters) are ignored, and a 'module.' prefix carried by every key
 * (DataParallel / DistributedDataParallel) is stripped.
 *
 * Only regular files are read, and the memory the file may make it allocate is bounded by
 * `options` (default: 8 GiB, and 4 x the file's size but at least 64 MiB); a file over either
 * limit is refused with a CheckpointError that names the option lifting it.
 */
export function loadStateDict(path: string, options?: LoadLimits): StateDict {
  if (typeof path !== 'string') throw new TypeError(`loadStateDict: path must be a string, got ${typeof path}`);
  const limits = checkLoadLimits('loadStateDict', options);
  const shown = printable(path);
  const bytes = readRegularFileSync(path, (problem) => new CheckpointError(`${shown} ${problem}`), limits.maxBytes);
  const budget = new LoadBudget(shown, bytes.length, limits);
  let tensors: StateDict;
  if (isSafetensorsFile(bytes)) tensors = parseSafetensorsFrom(bytes, shown, budget).tensors;
  else if (isTorchFile(bytes)) tensors = tensorsOf(parseTorch(bytes, shown, budget), shown);
  else
    throw new CheckpointError(
      `${shown} is neither a safetensors file nor a PyTorch checkpoint (unrecognized first bytes)`,
    );
  return stripCommonPrefix(tensors, DATA_PARALLEL_PREFIX);
}

// An 8-byte length then a JSON object. Checked first: the length's low byte can be anything, while
// byte 8 of a zip (a compression method) or of a legacy pickle (its magic number) is never '{'.
function isSafetensorsFile(bytes: Uint8Array): boolean {
  return bytes.length > 8 && bytes[8] === 0x7b;
}

// A zip archive (torch >= 1.6), or a bare pickle stream (the legacy format, which the parser refuses clearly).
function isTorchFile(bytes: Uint8Array): boolean {
  return (bytes[0] === 0x50 && bytes[1] === 0x4b) || bytes[0] === 0x80;
}

function tensorsOf(checkpoint: unknown, path: string): StateDict {
  if (!(checkpoint instanceof Map))
    throw new CheckpointError(`${path} holds ${describe(checkpoint)}, not a dict of tensors`);
  const wrapper = STATE_DICT_KEYS.find((key) => holdsTensors(checkpoint.get(key)));
  const dict: Map<unknown, unknown> = wrapper === undefined ? checkpoint : checkpoint.get(wrapper);
  const tensors: StateDict = new Map();
  for (const [key, value] of dict) if (typeof key === 'string' && isStateTensor(value)) tensors.set(key, value);
  if (tensors.size === 0) {
    const keys = [...dict.keys()]
      .slice(0, 10)
      .map((k) => (typeof k === 'string' ? printable(k) : describeValue(k)))
      .join(', ');
    throw new CheckpointError(
      `${path} holds no tensors${wrapper ? ` under '${wrapper}'` : ''} (its keys: ${keys || 'none'})`,
    );
  }
  return tensors;
}

function holdsTensors(v: unknown): boolean {
  return v instanceof Map && [...v.values()].some(isStateTensor);
}

function stripCommonPrefix(tensors: StateDict, prefix: string): StateDict {
  const keys = [...tensors.keys()];
  if (keys.length === 0 || !keys.every((k) => k.startsWith(prefix))) return tensors;
  return new Map([...tensors].map(([k, v]) => [k.slice(prefix.length), v]));
}

function describe(v: unknown): string {
  if (isStateTensor(v)) return 'a single tensor';
  return describeValue(v);
}
