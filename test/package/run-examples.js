// Runs every ```js block of a Markdown file (the README) with `require('lkvit')`, in the current
// folder: check-install.sh runs it inside an app that installed the packed tarball, so an example
// that reads a file the package does not carry (test/fixtures/...) fails there. Usage:
//   node run-examples.js README.md    (exit 1 on the first failing block, naming its heading)
// A ```js block is a whole example that must run; fragments that need your own files or variables
// are fenced as ```javascript instead.
'use strict';
const fs = require('fs');
const { execFileSync } = require('child_process');

const file = process.argv[2];
const text = fs.readFileSync(file, 'utf8');
const blocks = [...text.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => {
  const before = text.slice(0, m.index);
  const heading = [...before.matchAll(/^#+ (.*)$/gm)].pop();
  return { heading: heading ? heading[1] : '(top)', code: m[1] };
});
if (blocks.length === 0) throw new Error(`${file} has no js blocks`);
for (const { heading, code } of blocks) {
  // The clone's fixtures are not in the package: such an example cannot run here (say so, visibly).
  if (/test\/fixtures|'test', 'fixtures'/.test(code)) {
    console.log(`SKIP: the example under '${heading}' reads test/fixtures, which the package does not carry`);
    continue;
  }
  const started = Date.now();
  try {
    execFileSync(process.execPath, ['-e', code], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, LKVIT_NUM_THREADS: '2' },
      timeout: 300000,
    });
  } catch (e) {
    console.error(
      `FAIL: the example under '${heading}' does not run from the installed package:\n${String(e.stderr ?? e.message).slice(0, 2000)}`,
    );
    process.exit(1);
  }
  console.log(`example '${heading}' runs from the installed package (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}
