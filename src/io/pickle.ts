// A restricted unpickler: reads the pickle opcodes torch.save emits (protocols 2 to 5) into plain
// JS values. It never runs anything from the file: a GLOBAL is looked up in an allow-list of JS
// stand-ins supplied by the caller, and any other name refuses the whole file.
import { CheckpointError, printable } from './errors';
import { LoadBudget, LoadLimitError, checkLoadLimits } from './limits';

/** What a PickleCallable may ask of the unpickler: charging what it allocates to the load's budget. */
export interface PickleContext {
  charge(bytes: number, what: string): void;
}

/** A Python callable on the allow-list, implemented in JS (REDUCE and NEWOBJ call it with the args). */
export class PickleCallable {
  constructor(
    readonly qualifiedName: string,
    readonly call: (args: unknown[], vm: PickleContext) => unknown,
  ) {}
}

export interface UnpickleOptions {
  /** Names the file in error messages. */
  source: string;
  /** Python globals ('module.name') the file may reference: PickleCallables or plain values. */
  globals: ReadonlyMap<string, unknown>;
  /** Resolves a BINPERSID reference (torch's storages). */
  persistentLoad(pid: unknown): unknown;
  /** Where the containers, copies and bytes the stream builds are charged; default: the default limits against the stream's size. */
  budget?: LoadBudget;
}

// What things cost, roughly, in V8: a list slot is a pointer; a set, dict or memo entry a hash-table
// row (key, value, chain); every value pushed a slot plus a small header (a string, a heap number);
// a container (a list after its first append, a Map, a Set) over a hundred bytes. Charged so that a
// stream which copies one big list many times (set(x) 3,000 times over a memoised list) or builds
// millions of one-byte containers (EMPTY_LIST nested a million deep) is refused long before the
// heap runs out.
export const SLOT_BYTES = 8;
export const ENTRY_BYTES = 32;
const VALUE_BYTES = 16;
const CONTAINER_BYTES = 128;

/** Containers and codecs of the Python standard library that can be rebuilt without running code. */
export const PLAIN_GLOBALS: ReadonlyMap<string, unknown> = new Map<string, unknown>([
  [
    'collections.OrderedDict',
    new PickleCallable(
      'collections.OrderedDict',
      (args, vm) => new Map(charged(vm, pairsArg(args), ENTRY_BYTES, 'an OrderedDict')),
    ),
  ],
  // Protocol 2 writes Python 3's builtins under their Python 2 module name.
  ...['builtins', '__builtin__'].flatMap((m) =>
    ['set', 'frozenset'].map((n): [string, unknown] => [
      `${m}.${n}`,
      new PickleCallable(`${m}.${n}`, (args, vm) => new Set(charged(vm, iterableArg(args), ENTRY_BYTES, `a ${n}`))),
    ]),
  ),
  ...['builtins', '__builtin__'].flatMap((m) =>
    ['bytes', 'bytearray'].map((n): [string, unknown] => [`${m}.${n}`, new PickleCallable(`${m}.${n}`, bytesFromArgs)]),
  ),
  // Protocol 2's encoding of bytes objects: _codecs.encode(text, 'latin1').
  ['_codecs.encode', new PickleCallable('_codecs.encode', latin1Encode)],
]);

function charged<T>(vm: PickleContext, items: T[], bytesPerItem: number, what: string): T[] {
  vm.charge(items.length * bytesPerItem, `the pickle's ${what} of ${items.length} items`);
  return items;
}

// bytes() / bytearray(), bytearray(bytes), or protocol 2's bytearray(text, 'latin-1').
function bytesFromArgs(args: unknown[], vm: PickleContext): Uint8Array {
  if (args.length === 0) return new Uint8Array(0);
  if (args.length === 1 && args[0] instanceof Uint8Array) {
    vm.charge(args[0].length, `the pickle's copy of ${args[0].length} bytes`);
    return new Uint8Array(args[0]);
  }
  return latin1Encode(args, vm);
}

function pairsArg(args: unknown[]): [unknown, unknown][] {
  const items = iterableArg(args);
  for (const p of items)
    if (!Array.isArray(p) || p.length !== 2)
      throw new CheckpointError('collections.OrderedDict: expected (key, value) pairs');
  return items as [unknown, unknown][];
}

function iterableArg(args: unknown[]): unknown[] {
  if (args.length === 0) return [];
  if (args.length === 1 && (Array.isArray(args[0]) || args[0] instanceof Set))
    return [...(args[0] as Iterable<unknown>)];
  throw new CheckpointError(`expected one list argument, got ${args.length} arguments`);
}

function latin1Encode(args: unknown[], vm: PickleContext): Uint8Array {
  const [text, encoding] = args;
  if (args.length !== 2 || typeof text !== 'string' || (encoding !== 'latin1' && encoding !== 'latin-1'))
    throw new CheckpointError("expected (text, 'latin1'), how pickle protocol 2 stores bytes");
  vm.charge(text.length, `the pickle's ${text.length} encoded bytes`);
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0xff) throw new CheckpointError('the text is not latin-1');
    out[i] = c;
  }
  return out;
}

// Opcodes (pickletools names).
const OP = {
  MARK: 0x28,
  STOP: 0x2e,
  POP: 0x30,
  POP_MARK: 0x31,
  DUP: 0x32,
  BININT: 0x4a,
  BININT1: 0x4b,
  BININT2: 0x4d,
  NONE: 0x4e,
  BINPERSID: 0x51,
  REDUCE: 0x52,
  BINSTRING: 0x54,
  SHORT_BINSTRING: 0x55,
  BINUNICODE: 0x58,
  APPEND: 0x61,
  BUILD: 0x62,
  GLOBAL: 0x63,
  DICT: 0x64,
  EMPTY_DICT: 0x7d,
  APPENDS: 0x65,
  BINGET: 0x68,
  LONG_BINGET: 0x6a,
  LIST: 0x6c,
  EMPTY_LIST: 0x5d,
  BINPUT: 0x71,
  LONG_BINPUT: 0x72,
  SETITEM: 0x73,
  TUPLE: 0x74,
  EMPTY_TUPLE: 0x29,
  SETITEMS: 0x75,
  BINFLOAT: 0x47,
  BINBYTES: 0x42,
  SHORT_BINBYTES: 0x43,
  PROTO: 0x80,
  NEWOBJ: 0x81,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  LONG1: 0x8a,
  LONG4: 0x8b,
  SHORT_BINUNICODE: 0x8c,
  BINUNICODE8: 0x8d,
  BINBYTES8: 0x8e,
  EMPTY_SET: 0x8f,
  ADDITEMS: 0x90,
  FROZENSET: 0x91,
  NEWOBJ_EX: 0x92,
  STACK_GLOBAL: 0x93,
  MEMOIZE: 0x94,
  FRAME: 0x95,
  BYTEARRAY8: 0x96,
} as const;

// The unpickler is a loop, never recursive, and each stack item costs at least one input byte, so
// the file's size bounds the stack; MARK nesting and GLOBAL names get explicit limits far above
// what any checkpoint uses.
const MAX_MARK_DEPTH = 10_000;
const MAX_GLOBAL_NAME = 1000;

const utf8 = new TextDecoder('utf-8');

/** Unpickles `bytes` into plain JS values: Map for dicts, arrays for lists and tuples, Set, Uint8Array for bytes. */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions): unknown {
  return new Unpickler(bytes, options).run();
}

class Unpickler implements PickleContext {
  private pos = 0;
  private readonly budget: LoadBudget;
  private readonly view: DataView;
  private stack: unknown[] = [];
  private readonly marks: unknown[][] = [];
  private readonly memo = new Map<number, unknown>();

  constructor(
    private readonly bytes: Uint8Array,
    private readonly options: UnpickleOptions,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.budget =
      options.budget ?? new LoadBudget(options.source, bytes.length, checkLoadLimits('unpickle', undefined));
  }

  charge(bytes: number, what: string): void {
    this.budget.charge(bytes, what);
  }

  run(): unknown {
    for (;;) {
      const at = this.pos;
      const op = this.u8();
      if (op === OP.STOP) {
        if (this.stack.length !== 1 || this.marks.length !== 0)
          throw this.error(`STOP at offset ${at} with a malformed stack`);
        return this.stack[0];
      }
      this.step(op, at);
    }
  }

  private step(op: number, at: number): void {
    switch (op) {
      case OP.PROTO: {
        const version = this.u8();
        if (version > 5) throw this.error(`uses pickle protocol ${version} (at most 5 is supported)`);
        return;
      }
      case OP.FRAME: {
        // Frames only group opcodes for buffered reading: check the length and read on.
        const length = this.u64();
        if (length > this.bytes.length - this.pos)
          throw this.error(`is truncated: the frame at offset ${at} runs past the end`);
        return;
      }
      case OP.MARK:
        if (this.marks.length >= MAX_MARK_DEPTH) throw this.error(`nests more than ${MAX_MARK_DEPTH} MARKs`);
        this.charge(CONTAINER_BYTES, "the pickle's values and containers");
        this.marks.push(this.stack);
        this.stack = [];
        return;
      case OP.POP:
        this.pop();
        return;
      case OP.POP_MARK:
        this.popMark();
        return;
      case OP.DUP:
        return this.push(this.top());
      case OP.NONE:
        return this.push(null);
      case OP.NEWTRUE:
        return this.push(true);
      case OP.NEWFALSE:
        return this.push(false);
      case OP.BININT:
        return this.push(this.view.getInt32(this.take(4), true));
      case OP.BININT1:
        return this.push(this.u8());
      case OP.BININT2:
        return this.push(this.view.getUint16(this.take(2), true));
      case OP.LONG1:
        return this.push(this.long(this.u8()));
      case OP.LONG4:
        return this.push(this.long(this.i32NonNegative()));
      case OP.BINFLOAT:
        return this.push(this.view.getFloat64(this.take(8), false));
      case OP.SHORT_BINUNICODE:
        return this.push(this.text(this.u8()));
      case OP.BINUNICODE:
        return this.push(this.text(this.u32()));
      case OP.BINUNICODE8:
        return this.push(this.text(this.u64()));
      case OP.SHORT_BINSTRING:
        return this.push(this.text(this.u8()));
      case OP.BINSTRING:
        return this.push(this.text(this.i32NonNegative()));
      case OP.SHORT_BINBYTES:
        return this.push(this.raw(this.u8()));
      case OP.BINBYTES:
        return this.push(this.raw(this.u32()));
      case OP.BINBYTES8:
      case OP.BYTEARRAY8:
        return this.push(this.raw(this.u64()));
      case OP.EMPTY_TUPLE:
        return this.push([]);
      case OP.TUPLE1:
        return this.push(this.popN(1));
      case OP.TUPLE2:
        return this.push(this.popN(2));
      case OP.TUPLE3:
        return this.push(this.popN(3));
      case OP.TUPLE:
      case OP.LIST:
        return this.push(this.popMark());
      case OP.EMPTY_LIST:
        return this.push([]);
      case OP.EMPTY_DICT:
        return this.push(new Map());
      case OP.DICT:
        return this.push(this.setItems(new Map(), this.popMark()));
      case OP.EMPTY_SET:
        return this.push(new Set());
      case OP.FROZENSET:
        return this.push(new Set(charged(this, this.popMark(), ENTRY_BYTES, 'frozenset')));
      case OP.APPEND: {
        const item = this.pop();
        return this.extend(this.top(), [item], at);
      }
      case OP.APPENDS:
      case OP.ADDITEMS: {
        const items = this.popMark();
        return this.extend(this.top(), items, at);
      }
      case OP.SETITEM: {
        const value = this.pop();
        const key = this.pop();
        this.setItems(this.dictAt(at), [key, value]);
        return;
      }
      case OP.SETITEMS: {
        const items = this.popMark();
        this.setItems(this.dictAt(at), items);
        return;
      }
      case OP.BINPUT:
        return this.remember(this.u8());
      case OP.LONG_BINPUT:
        return this.remember(this.u32());
      case OP.MEMOIZE:
        return this.remember(this.memo.size);
      case OP.BINGET:
        return this.push(this.recall(this.u8(), at));
      case OP.LONG_BINGET:
        return this.push(this.recall(this.u32(), at));
      case OP.GLOBAL: {
        const module = this.line();
        const name = this.line();
        return this.push(this.global(module, name));
      }
      case OP.STACK_GLOBAL: {
        const name = this.pop();
        const module = this.pop();
        if (typeof module !== 'string' || typeof name !== 'string')
          throw this.error(`STACK_GLOBAL at offset ${at} needs two strings`);
        return this.push(this.global(module, name));
      }
      case OP.REDUCE: {
        const args = this.pop();
        const fn = this.pop();
        return this.push(this.call(fn, args, at));
      }
      case OP.NEWOBJ: {
        const args = this.pop();
        const cls = this.pop();
        return this.push(this.call(cls, args, at));
      }
      case OP.NEWOBJ_EX: {
        const kwargs = this.pop();
        const args = this.pop();
        const cls = this.pop();
        if (!(kwargs instanceof Map) || kwargs.size !== 0)
          throw this.error(`NEWOBJ_EX at offset ${at} passes keyword arguments`);
        return this.push(this.call(cls, args, at));
      }
      case OP.BUILD: {
        this.pop(); // the state
        // Only OrderedDicts get here (a state_dict's _metadata attribute): attributes are not entries.
        if (!(this.top() instanceof Map))
          throw this.error(`BUILD at offset ${at} sets the state of a ${kind(this.top())}, which is not supported`);
        return;
      }
      case OP.BINPERSID:
        return this.push(this.options.persistentLoad(this.pop()));
      default:
        throw this.error(`has the unsupported pickle opcode ${opName(op)} at offset ${at}`);
    }
  }

  private global(module: string, name: string): unknown {
    const qualified = `${module}.${name}`;
    if (this.options.globals.has(qualified)) return this.options.globals.get(qualified);
    const shown = printable(qualified);
    const numpyHint = module.startsWith('numpy') ? ' numpy arrays and scalars are not supported.' : '';
    throw new CheckpointError(
      `refusing to load ${this.options.source}: it references the Python global '${shown}', which is not a tensor or plain container ` +
        `(lkvit never executes code from checkpoints).${numpyHint} If you trust the file, re-save just the weights in Python ` +
        '(torch.save(model.state_dict(), path)) or convert them to safetensors',
    );
  }

  private call(fn: unknown, args: unknown, at: number): unknown {
    if (!(fn instanceof PickleCallable)) throw this.error(`calls a ${kind(fn)} at offset ${at}, which is not callable`);
    if (!Array.isArray(args))
      throw this.error(`calls ${fn.qualifiedName} at offset ${at} with a ${kind(args)} instead of an argument tuple`);
    try {
      return fn.call(args, this);
    } catch (e) {
      if (e instanceof LoadLimitError) throw e; // names the file and the limit already
      if (e instanceof CheckpointError) throw this.error(`at offset ${at}: ${fn.qualifiedName}: ${e.message}`);
      throw e;
    }
  }

  private extend(target: unknown, items: unknown[], at: number): void {
    if (Array.isArray(target)) {
      this.charge(items.length * SLOT_BYTES, `the pickle's list of ${target.length + items.length} items`);
      for (const item of items) target.push(item); // no spread: lists can be long
    } else if (target instanceof Set) {
      this.charge(items.length * ENTRY_BYTES, `the pickle's set of ${target.size + items.length} items`);
      for (const item of items) target.add(item);
    } else throw this.error(`appends to a ${kind(target)} at offset ${at}`);
  }

  private dictAt(at: number): Map<unknown, unknown> {
    const target = this.top();
    if (!(target instanceof Map)) throw this.error(`sets items on a ${kind(target)} at offset ${at}`);
    return target;
  }

  private setItems(dict: Map<unknown, unknown>, items: unknown[]): Map<unknown, unknown> {
    if (items.length % 2 !== 0) throw this.error('has an odd number of dict keys and values');
    this.charge((items.length / 2) * ENTRY_BYTES, `the pickle's dict of ${dict.size + items.length / 2} items`);
    for (let i = 0; i < items.length; i += 2) dict.set(items[i], items[i + 1]);
    return dict;
  }

  private remember(index: number): void {
    this.charge(ENTRY_BYTES, "the pickle's memo");
    this.memo.set(index, this.top());
  }

  private recall(index: number, at: number): unknown {
    if (!this.memo.has(index)) throw this.error(`reads memo slot ${index} at offset ${at}, which was never set`);
    return this.memo.get(index);
  }

  private push(v: unknown): void {
    this.charge(
      v !== null && typeof v === 'object' ? CONTAINER_BYTES : VALUE_BYTES,
      "the pickle's values and containers",
    );
    this.stack.push(v);
  }

  private top(): unknown {
    if (this.stack.length === 0) throw this.error(`reads an empty stack at offset ${this.pos - 1}`);
    return this.stack[this.stack.length - 1];
  }

  private pop(): unknown {
    const v = this.top();
    this.stack.pop();
    return v;
  }

  private popN(n: number): unknown[] {
    if (this.stack.length < n) throw this.error(`reads an empty stack at offset ${this.pos - 1}`);
    return this.stack.splice(this.stack.length - n, n);
  }

  private popMark(): unknown[] {
    const items = this.stack;
    const outer = this.marks.pop();
    if (!outer) throw this.error(`has no MARK for the opcode at offset ${this.pos - 1}`);
    this.stack = outer;
    return items;
  }

  /** Reserves n bytes and returns their offset. */
  private take(n: number): number {
    const at = this.pos;
    if (n > this.bytes.length - at)
      throw this.error(`is truncated: ${n} bytes needed at offset ${at}, ${this.bytes.length - at} left`);
    this.pos += n;
    return at;
  }

  private u8(): number {
    return this.bytes[this.take(1)];
  }

  private u32(): number {
    return this.view.getUint32(this.take(4), true);
  }

  private i32NonNegative(): number {
    const n = this.view.getInt32(this.take(4), true);
    if (n < 0) throw this.error(`has a negative length at offset ${this.pos - 4}`);
    return n;
  }

  private u64(): number {
    const n = this.view.getBigUint64(this.take(8), true);
    if (n > BigInt(this.bytes.length))
      throw this.error(`has a length of ${n} bytes at offset ${this.pos - 8}, beyond the data`);
    return Number(n);
  }

  private raw(n: number): Uint8Array {
    const at = this.take(n);
    this.charge(n, `the pickle's ${n}-byte bytes object`);
    return new Uint8Array(this.bytes.subarray(at, at + n)); // a copy, not a view of the file
  }

  private text(n: number): string {
    const at = this.take(n);
    return utf8.decode(this.bytes.subarray(at, at + n));
  }

  private line(): string {
    const start = this.pos;
    const end = this.bytes.indexOf(0x0a, start);
    if (end < 0 || end - start > MAX_GLOBAL_NAME)
      throw this.error(`has an unterminated GLOBAL name at offset ${start}`);
    this.pos = end + 1;
    return utf8.decode(this.bytes.subarray(start, end));
  }

  /** A little-endian two's-complement integer of n bytes: a number when exact, else a bigint. */
  private long(n: number): number | bigint {
    const at = this.take(n);
    if (n === 0) return 0;
    const bigEndian = Buffer.from(this.bytes.subarray(at, at + n)).reverse();
    let v = BigInt('0x' + bigEndian.toString('hex')); // linear in n, unlike shifting byte by byte
    if (bigEndian[0] & 0x80) v -= 1n << BigInt(8 * n);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  private error(problem: string): CheckpointError {
    return new CheckpointError(`${this.options.source}: the pickle stream ${problem}`);
  }
}

// Valid opcodes that torch.save (protocol 2) never writes: protocol 0 text forms, the copyreg
// extension registry and protocol 5's out-of-band buffers.
const UNSUPPORTED: Readonly<Record<number, string>> = {
  0x46: 'FLOAT',
  0x49: 'INT',
  0x4c: 'LONG',
  0x53: 'STRING',
  0x56: 'UNICODE',
  0x67: 'GET',
  0x70: 'PUT',
  0x50: 'PERSID',
  0x69: 'INST',
  0x6f: 'OBJ',
  0x82: 'EXT1',
  0x83: 'EXT2',
  0x84: 'EXT4',
  0x97: 'NEXT_BUFFER',
  0x98: 'READONLY_BUFFER',
};

function opName(op: number): string {
  const printable = op >= 0x20 && op < 0x7f ? ` '${String.fromCharCode(op)}'` : '';
  const name = UNSUPPORTED[op];
  return `0x${op.toString(16).padStart(2, '0')}${printable}${name ? ` (${name})` : ''}`;
}

function kind(v: unknown): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'tuple or list';
  if (v instanceof Map) return 'dict';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}
