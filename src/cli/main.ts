#!/usr/bin/env node
// The lkvit command: parses the command name and hands over; errors print as one line.
import { predictCommand } from './predict';
import { attackCommand } from './attack';
import { evalCommand } from './eval';
import { analyzeCommand } from './analyze';
import { benchCommand } from './bench';
import { profileCommand } from './profile';
import { mergeCommand } from './merge';
import { trainCommand } from './train';
import { demoCommand } from './demo';
import { listModels } from '../models/registry';
import { UsageError } from './args';

type Print = (line: string) => void;
export type CommandFn = (argv: string[], print: Print) => Promise<void> | void;

/** Every command, with the line `lkvit --help` shows for it. */
export const COMMANDS: Record<string, { summary: string; run: CommandFn }> = {
  demo: { summary: 'trains a large-kernel RepLKNet, a 3x3 RepLKNet and a ViT on MNIST, attacks and analyses them, writes lkvit-report/', run: demoCommand },
  predict: { summary: 'logits of a checkpoint on tensors or images', run: predictCommand },
  attack: { summary: 'adversarial examples and robust accuracy', run: attackCommand },
  eval: { summary: 'a checkpoint on a robustness suite: imagenet, imagenet-a/-r/-o/-c/-p/-9', run: evalCommand },
  analyze: { summary: 'the analyses: occlusion, frequency, fourier-heatmap, lesion, kernel-distance, feature-variance, erf', run: analyzeCommand },
  train: { summary: 'fits a model on x/y tensors: SGD/AdamW, cosine with warm-up, PGD-AT or TRADES, resumable checkpoints', run: trainCommand },
  merge: { summary: 'combines the reports of --shard i/n runs into the report of a single run', run: mergeCommand },
  bench: { summary: 'kernel-size microbenchmark: depthwise conv, attention, whole models (with PyTorch beside when found)', run: benchCommand },
  profile: { summary: 'per-op time, GFLOP/s and % of the machine\'s measured peak of one model pass (forward, attack or train)', run: profileCommand },
  models: { summary: 'the model names, their normalisation and where their weights come from', run: modelsCommand },
  help: { summary: "this list; 'lkvit help COMMAND' is 'lkvit COMMAND --help'", run: helpCommand },
};

function modelsCommand(argv: string[], print: Print): void {
  if (argv.length === 1 && argv[0] === '--help') return print('usage: lkvit models [--json]\n\n  --json                  the list as JSON on stdout (default: off)\n');
  if (argv.length > 1 || (argv.length === 1 && argv[0] !== '--json')) throw new UsageError(`models: takes only --json or --help, got '${argv.join(' ')}'`);
  const models = listModels();
  if (argv[0] === '--json') return print(JSON.stringify(models, null, 2));
  for (const m of models)
    print(`${m.name.padEnd(16)} mean ${m.mean.join(',').padEnd(18)} std ${m.std.join(',').padEnd(18)} ${m.weights}`);
}

function helpText(): string {
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(9)} ${c.summary}`);
  return `usage: lkvit <command> [flags]   ('lkvit <command> --help' lists its flags and their defaults)\n\n` +
    `commands:\n${rows.join('\n')}\n\n` +
    `every command takes --help, --json [FILE] (the result as JSON: to FILE, or alone on stdout) and --quiet (no progress bars)\n`;
}

async function helpCommand(argv: string[], print: Print): Promise<void> {
  if (argv.length === 0 || argv[0] === '--help') return print(helpText());
  const command = COMMANDS[argv[0]];
  if (!command || argv[0] === 'help') throw new UsageError(`help: unknown command '${argv[0]}' (commands: ${Object.keys(COMMANDS).join(', ')})`);
  await command.run(['--help'], print);
}

// Errors from the file system about a path the user named: bad input, like a bad flag.
const USER_PATH_ERRORS = new Set(['ENOENT', 'ENOTDIR', 'EISDIR', 'EACCES']);

/** Exit code of an error: 2 for bad input (usage errors, missing or unreadable files), 1 for failures while running. */
export function exitCodeOf(error: unknown): number {
  if (error instanceof UsageError) return 2;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && USER_PATH_ERRORS.has(code) ? 2 : 1;
}

export async function main(argv: string[], print: Print = (s) => console.log(s)): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help') {
    if (command) print(helpText());
    else process.stderr.write(helpText());
    return command ? 0 : 2;
  }
  const entry = Object.prototype.hasOwnProperty.call(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!entry) {
    process.stderr.write(`lkvit: unknown command '${command}' (commands: ${Object.keys(COMMANDS).join(', ')}; 'lkvit --help')\n`);
    return 2;
  }
  try {
    await entry.run(rest, print);
    return 0;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    // One line: the first of the message (some usage errors append the usage text after it).
    process.stderr.write(`lkvit: ${message.split('\n')[0]}\n`);
    if (process.env.LKVIT_DEBUG && e instanceof Error && e.stack) process.stderr.write(e.stack + '\n');
    return exitCodeOf(e);
  }
}

if (require.main === module) main(process.argv.slice(2)).then((code) => (process.exitCode = code));
