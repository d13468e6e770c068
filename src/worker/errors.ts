// Errors across the thread boundary: a worker's error comes back as {name, message, stack} and is
// rebuilt with the same class where it is a built-in one, so `instanceof RangeError` and
// `e.name === 'AbortError'` keep working for the caller.

/** The error an aborted call rejects with (the same shape evaluateSuite throws). */
export function abortError(message: string): Error {
  return Object.assign(new Error(message), { name: 'AbortError' });
}

export interface ErrorMessage {
  name: string;
  message: string;
  stack?: string;
}

export function errorToMessage(e: unknown): ErrorMessage {
  if (e instanceof Error) return { name: e.name, message: e.message, stack: e.stack };
  return { name: 'Error', message: String(e) };
}

const BUILT_IN: Record<string, new (message: string) => Error> = {
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};

/** The caller-side error: a built-in class where the name is one, else an Error carrying the name;
 * the worker's stack frames follow the caller's, so both ends of the call show. */
export function errorFromMessage(m: ErrorMessage): Error {
  const Class = Object.prototype.hasOwnProperty.call(BUILT_IN, m.name) ? BUILT_IN[m.name] : Error;
  const e = new Class(m.message);
  if (e.name !== m.name) Object.defineProperty(e, 'name', { value: m.name, configurable: true, writable: true });
  const here = (e.stack ?? '').split('\n').slice(1).join('\n');
  const there = (m.stack ?? '')
    .split('\n')
    .filter((l) => /^\s+at /.test(l))
    .join('\n');
  e.stack = `${m.name}: ${m.message}\n${here}${there ? `\n    -- in the worker thread --\n${there}` : ''}`;
  return e;
}
