// A small flag parser for the commands: --name value, --name=value, boolean --flag; every flag
// must be declared, so a typo is an error rather than a silently ignored option.
import { existsSync, statSync, writeFileSync, realpathSync, openSync, closeSync, unlinkSync, Stats } from 'fs';
import { resolve, dirname, basename, join } from 'path';
import { progress, Progress } from './progress';
import { choices } from '../tensor/check';

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface FlagSpec {
  /** 'string' takes a value; 'list' takes one or more values (`--images a.png b.png`, as a shell
   * glob expands) and may repeat; 'boolean' takes none;
   * 'optional' takes a value when the next argument is not a flag, else stands alone (true). */
  type: 'string' | 'list' | 'boolean' | 'optional';
  help: string;
  /** Shown in --help as '(default: ...)': what the command uses when the flag is absent. */
  default?: string;
  /** Shown in --help as '(required)'. */
  required?: boolean;
}

export type Flags = Record<string, string | string[] | boolean | undefined>;

export function parseFlags(argv: string[], specs: Record<string, FlagSpec>, command: string): Flags {
  const out: Flags = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new UsageError(`${command}: unexpected argument '${arg}' (flags start with --)`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const spec = Object.prototype.hasOwnProperty.call(specs, name) ? specs[name] : undefined;
    if (!spec)
      throw new UsageError(
        `${command}: unknown flag --${name}${didYouMean(name, Object.keys(specs), '--')}; run 'lkvit ${command} --help'`,
      );
    if (spec.type === 'boolean') {
      if (eq >= 0) throw new UsageError(`${command}: --${name} takes no value`);
      out[name] = true;
      continue;
    }
    if (spec.type === 'optional' && eq < 0 && (i + 1 >= argv.length || argv[i + 1].startsWith('--'))) {
      out[name] = true;
      continue;
    }
    const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined || (eq < 0 && value.startsWith('--')))
      throw new UsageError(`${command}: --${name} needs a value`);
    if (spec.type === 'list') {
      const values = [value];
      // The values after it up to the next flag: what a shell glob (--images photos/*.jpg) expands to.
      if (eq < 0) while (i + 1 < argv.length && !argv[i + 1].startsWith('--')) values.push(argv[++i]);
      out[name] = [...((out[name] as string[] | undefined) ?? []), ...values];
    } else if (out[name] !== undefined) throw new UsageError(`${command}: --${name} given twice`);
    else out[name] = value;
  }
  return out;
}

/** Edit distance between two short strings: insertions, deletions, substitutions and swaps of two
 * neighbouring letters each count 1 (Damerau's optimal string alignment), so 'modle' is 1 from 'model'. */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.length][b.length];
}

/** " (did you mean --X?)" for the closest of `known` to a misspelt `name` (at most a third of its
 * letters wrong, at least 1, at most 3), else "". */
export function didYouMean(name: string, known: readonly string[], prefix = ''): string {
  if (name.length > 64) return '';
  const limit = Math.min(3, Math.max(1, Math.floor(name.length / 3)));
  let best: string | undefined,
    bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(name.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best !== undefined && bestDistance <= limit ? ` (did you mean ${prefix}${best}?)` : '';
}

const VALUE_NAME: Record<FlagSpec['type'], string> = {
  string: ' VALUE',
  list: ' VALUE...',
  boolean: '',
  optional: ' [FILE]',
};

export function usage(command: string, synopsis: string, specs: Record<string, FlagSpec>): string {
  const names = Object.entries(specs).map(([n, s]) => `  --${n}${VALUE_NAME[s.type]}`);
  const width = Math.max(26, ...names.map((n) => n.length + 2));
  const rows = Object.values(specs).map((s, i) => {
    const suffix = s.required ? ' (required)' : s.default !== undefined ? ` (default: ${s.default})` : '';
    return names[i].padEnd(width) + s.help + suffix;
  });
  return `usage: lkvit ${command} ${synopsis}\n\n${rows.join('\n')}\n`;
}

/**
 * The flags every command takes; spread them into a command's table (`...COMMON_FLAGS`) and
 * read them through commandOutput().
 */
export const COMMON_FLAGS: Record<string, FlagSpec> = {
  json: {
    type: 'optional',
    help: "machine-readable result: '--json FILE' writes it to FILE, '--json' alone prints it on stdout (text then goes to stderr)",
    default: 'off',
  },
  quiet: {
    type: 'boolean',
    help: 'no progress bars (they are also off when stderr is not a terminal)',
    default: 'off',
  },
  help: { type: 'boolean', help: 'this help' },
};

type Print = (line: string) => void;

/** Where a command's text, JSON result and progress go, as --json and --quiet say. */
export interface CommandOutput {
  /** True when the JSON result goes to stdout (so nothing else may). */
  jsonOnStdout: boolean;
  /** A human-readable line: stdout, or stderr under a bare --json. */
  say: Print;
  /** Writes the machine-readable result where --json says; does nothing without --json. */
  result(value: unknown): void;
  /** A progress bar on stderr (silent under --quiet or when stderr is not a terminal). */
  progress(label: string, total: number): Progress;
}

export function commandOutput(flags: Flags, print: Print): CommandOutput {
  const json = flags.json;
  const jsonOnStdout = json === true || json === '-';
  return {
    jsonOnStdout,
    say: jsonOnStdout ? (line) => void process.stderr.write(line + '\n') : print,
    result(value) {
      if (json === undefined) return;
      const text = JSON.stringify(value, null, 2);
      if (jsonOnStdout) print(text);
      else writeFileSync(String(json), text + '\n');
    },
    progress: (label, total) => progress(label, total, { quiet: Boolean(flags.quiet) }),
  };
}

/** The value of a flag that names an input file, which must exist (a missing file is a usage error, not a crash). */
export function existingFile(
  flags: Flags,
  name: string,
  command: string,
  kind: 'file' | 'folder' | 'any' = 'file',
): string | undefined {
  const v = flags[name];
  if (v === undefined) return undefined;
  const path = String(v);
  if (!existsSync(path)) throw new UsageError(`${command}: --${name} '${path}' does not exist`);
  const isDir = statSync(path).isDirectory();
  if (kind === 'file' && isDir) throw new UsageError(`${command}: --${name} '${path}' is a folder, expected a file`);
  if (kind === 'folder' && !isDir) throw new UsageError(`${command}: --${name} '${path}' is a file, expected a folder`);
  return path;
}

/** A flag that must be given. */
export function requiredFlag(flags: Flags, name: string, command: string): string {
  const v = flags[name];
  if (v === undefined) throw new UsageError(`${command}: --${name} is required ('lkvit ${command} --help')`);
  return String(v);
}

/** An integer flag: plain decimal digits only (no 0x3, 1e3, 3.0 or spaces), in [min, max]. */
export function intFlag(
  flags: Flags,
  name: string,
  command: string,
  min = 1,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  const v = flags[name];
  if (v === undefined) return undefined;
  const text = String(v);
  const n = /^[0-9]{1,16}$/.test(text) ? Number(text) : NaN;
  const range = max < Number.MAX_SAFE_INTEGER ? `in [${min}, ${max}]` : `>= ${min}`;
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new UsageError(
      `${command}: --${name} must be an integer ${range}, got '${text}'${Number.isNaN(n) && Number.isFinite(Number(text)) ? ' (plain decimal digits only)' : ''}`,
    );
  return n;
}

/** The largest seed: seeds are unsigned 32-bit, as the API's (a larger one would wrap). */
export const MAX_SEED = 0xffffffff;

/** --seed: an integer in [0, 2^32 - 1]. */
export function seedFlag(flags: Flags, command: string, name = 'seed'): number | undefined {
  return intFlag(flags, name, command, 0, MAX_SEED);
}

/** Three comma-separated numbers (mean / std). */
export function tripleFlag(flags: Flags, name: string, command: string): [number, number, number] | undefined {
  const v = flags[name];
  if (v === undefined) return undefined;
  const parts = String(v).split(',').map(Number);
  if (parts.length !== 3 || parts.some((p) => !Number.isFinite(p)))
    throw new UsageError(
      `${command}: --${name} must be three comma-separated numbers like 0.5,0.5,0.5, got '${String(v)}'`,
    );
  return parts as [number, number, number];
}

/** A number or a fraction like 4/255; NaN when it is neither. */
export function parseFraction(text: string): number {
  const m = /^\s*([0-9.eE+-]+)\s*(?:\/\s*([0-9.eE+-]+)\s*)?$/.exec(text);
  return m ? Number(m[1]) / (m[2] === undefined ? 1 : Number(m[2])) : NaN;
}

/** A number or a fraction like 4/255. */
export function fractionFlag(
  f: Flags,
  name: string,
  command: string,
  opts: { positive?: boolean } = {},
): number | undefined {
  const v = f[name];
  if (v === undefined) return undefined;
  const n = parseFraction(String(v));
  if (!Number.isFinite(n) || n < 0 || (opts.positive && n === 0))
    throw new UsageError(
      `${command}: --${name} must be a ${opts.positive ? 'positive' : 'non-negative'} number or fraction like 4/255, got '${String(v)}'`,
    );
  return n;
}

export function choiceFlag<T extends string>(
  f: Flags,
  name: string,
  allowed: readonly T[],
  dflt: T,
  command: string,
): T {
  const v = f[name] === undefined ? dflt : String(f[name]);
  if (!allowed.includes(v as T))
    throw new UsageError(`${command}: --${name} must be ${choices(allowed)}, got '${v}'${didYouMean(v, allowed)}`);
  return v as T;
}

/** A path as the file system resolves it: links followed, and for a file not there yet its folder's real path and its name. */
export function realPath(p: string): string {
  const abs = resolve(p);
  try {
    return realpathSync(abs);
  } catch {
    const parent = dirname(abs);
    return parent === abs ? abs : join(realPath(parent), basename(abs));
  }
}

/** An output of a command: a file, or a folder with the files the command writes in it. */
export interface OutputPath {
  flag: string;
  path: string;
  /** A folder, created if missing, holding these files. */
  folder?: string[];
  /** The command creates missing parent folders (default: the parent must exist). */
  createsParents?: boolean;
}

/**
 * Before any work: refuses outputs that would overwrite an input or another output (compared as real
 * paths, so links and '..' do not hide a collision), and outputs that cannot be written (a folder
 * given for a file, a file for a folder, a missing or read-only parent: a temporary file is created
 * and removed there).
 */
export function checkOutputs(
  command: string,
  inputs: [flag: string, path: string | undefined][],
  outputs: OutputPath[],
): void {
  const taken = new Map<string, string>();
  // An input is named by its flag ('weights' -> --weights), or by a phrase (merge's 'the shard file ...').
  for (const [flag, p] of inputs)
    if (p !== undefined) taken.set(realPath(p), /^[a-z-]+$/.test(flag) ? `--${flag}` : flag);
  for (const o of outputs) {
    const files = o.folder ? o.folder.map((name) => join(o.path, name)) : [o.path];
    for (const file of files) {
      const real = realPath(file);
      const other = taken.get(real);
      if (other)
        throw new UsageError(`${command}: --${o.flag} '${file}' is the same file as ${other}; give another path`);
      taken.set(real, `--${o.flag}${o.folder ? ` (${basename(file)})` : ''}`);
    }
    checkWritable(command, o);
  }
}

function checkWritable(command: string, o: OutputPath): void {
  const fail = (why: string) => new UsageError(`${command}: --${o.flag} '${o.path}' ${why}`);
  let stat: Stats | undefined;
  try {
    stat = statSync(o.path);
  } catch {
    stat = undefined;
  }
  if (stat && o.folder && !stat.isDirectory()) throw fail('is a file, expected a folder');
  if (stat && !o.folder && stat.isDirectory()) throw fail('is a folder, expected a file');
  // The folder the file goes into (or the folder itself), else the nearest one that exists.
  let dir = o.folder ? resolve(o.path) : dirname(resolve(o.path));
  if (!o.folder && !o.createsParents && !existsSync(dir))
    throw fail(`cannot be written: its folder '${dirname(o.path)}' does not exist`);
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  if (!statSync(dir).isDirectory()) throw fail(`cannot be written: '${dir}' is not a folder`);
  const probe = join(dir, `.lkvit-write-check-${process.pid}-${Math.random().toString(36).slice(2)}`);
  try {
    closeSync(openSync(probe, 'wx'));
    unlinkSync(probe);
  } catch (e) {
    throw fail(`cannot be written (${(e as NodeJS.ErrnoException).code ?? 'error'} in '${dir}')`);
  }
}

/** The file --json FILE names (none for a bare --json or '--json -', which print on stdout). */
export function jsonFile(flags: Flags): string | undefined {
  return typeof flags.json === 'string' && flags.json !== '-' ? flags.json : undefined;
}
