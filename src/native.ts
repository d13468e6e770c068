// Loads the compiled addon: a prebuilt binary from prebuilds/ when one matches, else the
// source build in build/Release (node-gyp-build decides).
import * as path from 'path';
// eslint-disable-next-line @typescript-eslint/no-var-requires
const load: (dir: string) => unknown = require('node-gyp-build');

export type NativeFn = (...args: unknown[]) => unknown;

let addon: Record<string, NativeFn>;
try {
  addon = load(path.join(__dirname, '..')) as Record<string, NativeFn>;
} catch (e) {
  throw new Error(
    `lkvit: the native addon could not be loaded (${(e as Error).message}). ` +
      'Run `npm install` (or `npm run build`) in the lkvit package to build it from source; ' +
      'this needs python3, make and a C++17 compiler.',
  );
}

/** The raw addon. Ops call it after validating their arguments; users should not need it. */
export const native = addon;
