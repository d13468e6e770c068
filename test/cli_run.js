// Runs the lkvit command line in-process for the CLI tests: its exit code, what it printed on
// stdout (the print callback) and what it wrote to stderr.
'use strict';
const { main } = require('../lib/cli/main');

async function runCli(argv) {
  const lines = [];
  const errors = [];
  const write = process.stderr.write;
  process.stderr.write = (s) => (errors.push(String(s)), true);
  try {
    const code = await main(argv, (s) => lines.push(s));
    return { code, out: lines.join('\n'), err: errors.join('') };
  } finally {
    process.stderr.write = write;
  }
}

module.exports = { runCli };
