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
  throw new Error(loadFailureMessage((e as Error).message));
}

// The C library, as prebuildify's --tag-libc names it: glibc reports its version, musl (Alpine) does not.
function libc(): string {
  if (process.platform !== 'linux') return '';
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime ? 'glibc' : 'musl';
}

/** What to do when the addon does not load: which binary was looked for, and how to get one. */
export function loadFailureMessage(reason: string): string {
  const platform = `${process.platform}-${process.arch}${libc() ? ` (${libc()})` : ''}`;
  const prebuilt = process.platform === 'linux' && process.arch === 'x64' && libc() === 'glibc';
  return `lkvit: the native addon could not be loaded on ${platform} (${reason}). ` +
    (prebuilt
      ? 'The package carries a prebuilt binary for this platform (prebuilds/linux-x64): reinstall it (`npm install lkvit`, or `npm ci`) if prebuilds/ is missing or damaged. '
      : 'The package carries prebuilt binaries for linux-x64 with glibc only; here (musl/Alpine, macOS, Windows, arm64, ...) the install compiles the addon from source instead. ') +
    'To compile it: install python3, make and a C++17 compiler (Debian/Ubuntu: apt-get install python3 make g++; Alpine: apk add python3 make g++), ' +
    'then run `npm rebuild lkvit` in your project, or `npm run build` in a clone of lkvit.';
}

/** The raw addon. Ops call it after validating their arguments; users should not need it. */
export const native = addon;
