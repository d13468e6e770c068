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
import { ablateCommand } from './ablate';
import { demoCommand } from './demo';
import { infoCommand } from './info';
import { listModels } from '../models/registry';
import { UsageError, parseFlags, usage, commandOutput, COMMON_FLAGS, FlagSpec, didYouMean } from './args';

type Print = (line: string) => void;
export type CommandFn = (argv: string[], print: Print) => Promise<void> | void;

/** Every command, with the line `lkvit --help` shows for it. */
export const COMMANDS: Record<string, { summary: string; run: CommandFn }> = {
  demo: {
    summary:
      'trains a large-kernel RepLKNet, a 3x3 RepLKNet and a ViT on MNIST, attacks and analyses them, writes lkvit-report/',
    run: demoCommand,
  },
  predict: { summary: 'logits of a checkpoint on tensors or images', run: predictCommand },
  attack: { summary: 'adversarial examples and robust accuracy', run: attackCommand },
  eval: { summary: 'a checkpoint on a robustness suite: imagenet, imagenet-a/-r/-o/-c/-p/-9', run: evalCommand },
  analyze: {
    summary:
      'the analyses: occlusion, frequency, fourier-heatmap, lesion, kernel-distance, feature-variance, erf, attack-curve, perturbations',
    run: analyzeCommand,
  },
  train: {
    summary: 'fits a model on x/y tensors: SGD/AdamW, cosine with warm-up, PGD-AT or TRADES, resumable checkpoints',
    run: trainCommand,
  },
  ablate: {
    summary:
      'the augmentation ablation: one model trained under all 16 subsets of CutMix, RandAugment, MixUp, Random Erasing, then clean/PGD/AutoAttack accuracy',
    run: ablateCommand,
  },
  merge: { summary: 'combines the reports of --shard i/n runs into the report of a single run', run: mergeCommand },
  bench: {
    summary: 'kernel-size microbenchmark: depthwise conv, attention, whole models (with PyTorch beside when found)',
    run: benchCommand,
  },
  profile: {
    summary: "per-op time, GFLOP/s and % of the machine's measured peak of one model pass (forward, attack or train)",
    run: profileCommand,
  },
  info: {
    summary: 'the version, CPU, SIMD path and threads of the engine, and the CUDA backend or why there is none',
    run: infoCommand,
  },
  models: { summary: 'the model names, their normalisation and where their weights come from', run: modelsCommand },
  help: { summary: "this list; 'lkvit help COMMAND' is 'lkvit COMMAND --help'", run: helpCommand },
};

const MODELS_FLAGS: Record<string, FlagSpec> = { ...COMMON_FLAGS };

function modelsCommand(argv: string[], print: Print): void {
  const f = parseFlags(argv, MODELS_FLAGS, 'models');
  if (f.help) return print(usage('models', '[--json [FILE]] [--quiet]', MODELS_FLAGS));
  const out = commandOutput(f, print);
  const models = listModels();
  for (const m of models)
    out.say(`${m.name.padEnd(16)} mean ${m.mean.join(',').padEnd(18)} std ${m.std.join(',').padEnd(18)} ${m.weights}`);
  out.result(models);
}

/** The package's version (package.json beside lib/). */
export function version(): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('../../package.json') as { version: string }).version;
}

function helpText(): string {
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(9)} ${c.summary}`);
  return (
    `usage: lkvit <command> [flags]   ('lkvit <command> --help' lists its flags and their defaults)\n\n` +
    `commands:\n${rows.join('\n')}\n\n` +
    `every command takes --help (-h), --json [FILE] (the result as JSON: to FILE, or alone on stdout) and --quiet (no progress bars); 'lkvit --version' (-v) prints the version\n`
  );
}

async function helpCommand(argv: string[], print: Print): Promise<void> {
  const split = argv.findIndex((a) => a.startsWith('--'));
  const names = split < 0 ? argv : argv.slice(0, split);
  const f = parseFlags(split < 0 ? [] : argv.slice(split), MODELS_FLAGS, 'help');
  if (names.length > 1) throw new UsageError(`help: takes one command name, got '${names.join(' ')}'`);
  if (f.help) return print(helpText());
  if (names.length === 0) {
    const out = commandOutput(f, print);
    if (!out.jsonOnStdout) out.say(helpText());
    return out.result({ commands: Object.fromEntries(Object.entries(COMMANDS).map(([n, c]) => [n, c.summary])) });
  }
  const command = Object.prototype.hasOwnProperty.call(COMMANDS, names[0]) ? COMMANDS[names[0]] : undefined;
  if (!command || names[0] === 'help')
    throw new UsageError(
      `help: unknown command '${names[0]}'${didYouMean(names[0], Object.keys(COMMANDS))} (commands: ${Object.keys(COMMANDS).join(', ')})`,
    );
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
  if (!command || command === '--help' || command === '-h') {
    if (command) print(helpText());
    else process.stderr.write(helpText());
    return command ? 0 : 2;
  }
  if (command === '--version' || command === '-v') {
    print(version());
    return 0;
  }
  const entry = Object.prototype.hasOwnProperty.call(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!entry) {
    const hint = didYouMean(
      command.replace(/^-+/, ''),
      [...Object.keys(COMMANDS), ...(command.startsWith('-') ? ['help', 'version'] : [])],
      command.startsWith('-') ? '--' : '',
    );
    process.stderr.write(
      `lkvit: unknown ${command.startsWith('-') ? 'option' : 'command'} '${command}'${hint} (commands: ${Object.keys(COMMANDS).join(', ')}; 'lkvit --help')\n`,
    );
    return 2;
  }
  // 'lkvit COMMAND -h' is 'lkvit COMMAND --help'.
  const args = rest.map((a) => (a === '-h' ? '--help' : a));
  try {
    await entry.run(args, print);
    return 0;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    // One line: the first of the message (some usage errors append the usage text after it); a
    // checkpoint that does not fit its model adds its few lines of keys.
    const lines = message.split('\n');
    const shown = e instanceof Error && e.name === 'StateDictError' ? lines.slice(0, 6) : lines.slice(0, 1);
    process.stderr.write(`lkvit: ${shown.join('\n')}\n`);
    if (process.env.LKVIT_DEBUG && e instanceof Error && e.stack) process.stderr.write(e.stack + '\n');
    return exitCodeOf(e);
  }
}

if (require.main === module) main(process.argv.slice(2)).then((code) => (process.exitCode = code));
