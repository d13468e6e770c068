// --shard i/n, shared by eval, attack and analyze: which contiguous slice of the run this process does.
import { FlagSpec, Flags, UsageError } from './args';
import { ShardSpec, parseShard } from '../shard/spec';

export const SHARD_FLAG: Record<string, FlagSpec> = {
  shard: {
    type: 'string',
    help: "i/n: do only the i-th (1-based) of n contiguous slices (whole batches) and write a shard report; 'lkvit merge' joins the n reports",
    default: 'off',
  },
};

export function shardFlag(f: Flags, command: string): ShardSpec | undefined {
  if (f.shard === undefined) return undefined;
  try {
    return parseShard(String(f.shard));
  } catch (e) {
    throw new UsageError(`${command}: --${(e as Error).message}`);
  }
}
