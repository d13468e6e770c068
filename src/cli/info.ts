// lkvit info: what this installation runs on — the package and Node versions, the CPU, the SIMD
// path and threads of the native engine, and the CUDA backend (or why there is none).
import * as os from 'os';
import { FlagSpec, parseFlags, usage, commandOutput, COMMON_FLAGS } from './args';
import { getIsa, getNumThreads } from '../index';
import { info as cudaInfo } from '../cuda';

type Print = (line: string) => void;

const FLAGS: Record<string, FlagSpec> = { ...COMMON_FLAGS };

export function infoCommand(argv: string[], print: Print): void {
  const f = parseFlags(argv, FLAGS, 'info');
  if (f.help) return print(usage('info', '[--json [FILE]] [--quiet]', FLAGS));
  const out = commandOutput(f, print);
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- package.json is read at run time, beside lib/
  const version = (require('../../package.json') as { version: string }).version;
  const isa = getIsa();
  const cuda = cudaInfo();
  const result = {
    version,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpu: {
      model: os.cpus()[0]?.model ?? 'unknown',
      cores: os.cpus().length,
      isa: isa.active,
      bestIsa: isa.best,
      threads: getNumThreads(),
    },
    cuda,
  };
  out.say(`lkvit ${version} on Node ${process.version}, ${result.platform}`);
  out.say(
    `cpu: ${result.cpu.model}, ${result.cpu.cores} cores; engine: ${isa.active} (best ${isa.best}), ${result.cpu.threads} threads`,
  );
  out.say(
    cuda.available
      ? `cuda: ${cuda.backend} on ${cuda.device}${cuda.computeCapability ? ` (compute ${cuda.computeCapability})` : ''}; gemm: ${cuda.gemm}`
      : `cuda: not available (${cuda.reason})`,
  );
  out.result(result);
}
