// The one error type of the checkpoint readers, so callers can tell "this file is bad or refused"
// apart from programming errors (TypeError / RangeError for bad arguments), and the quoting of
// names that come from files or folders (which a stranger chose) before they reach a terminal.

/** A corrupt, truncated, unsupported or refused checkpoint file; the message names the file and the problem. */
export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

const MAX_SHOWN = 1000;
// C0 and C1 controls, DEL, line/paragraph separators and the bidirectional overrides: what can move
// the cursor, recolour or reorder a terminal line.
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\\]/g;

/**
 * A file name, key or other untrusted string made safe to print: control characters and
 * backslashes escaped (\x1b, \u202e, \\), cut to 1000 characters. Quote it yourself ('${printable(p)}').
 */
export function printable(s: string): string {
  const text = String(s);
  const cut = text.length > MAX_SHOWN ? text.slice(0, MAX_SHOWN) : text;
  const escaped = cut.replace(UNPRINTABLE, (c) => {
    if (c === '\\') return '\\\\';
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
  return cut === text ? escaped : `${escaped}... (${text.length} characters)`;
}

/**
 * A short description of any value from a file, for error messages: never recursive (String() of
 * a 1M-deep nested array overflows the stack), never long.
 */
export function describeValue(v: unknown): string {
  if (v === null) return 'None';
  if (typeof v === 'string') return `'${printable(v)}'`;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (v instanceof Map) return `a dict of ${v.size}`;
  if (v instanceof Set) return `a set of ${v.size}`;
  if (typeof v === 'object') return `a ${printable((v as object).constructor?.name ?? 'object')}`;
  return typeof v;
}
