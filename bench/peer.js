// The PyTorch side of the benchmarks: finds a python with torch and runs bench/torch_peer.py as a
// persistent process answering one JSON timing request per line. Used by bench/run.js and by
// `lkvit bench` (src/cli/bench.ts).
'use strict';
const path = require('path');
const { spawn, spawnSync } = require('child_process');
const readline = require('readline');

function findTorchPython() {
  const candidates = [process.env.LKVIT_PYTHON, '/usr/bin/python3', 'python3', 'python'].filter(Boolean);
  for (const py of candidates) {
    const r = spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' });
    if (r.status === 0) return py;
  }
  return null;
}

// A PyTorch peer process answering one JSON request per line.
async function startPeer(threads, python = findTorchPython()) {
  if (!python) return null;
  const child = spawn(python, [path.join(__dirname, 'torch_peer.py'), String(threads)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => JSON.parse((await lines.next()).value);
  const hello = await next();
  return {
    version: hello.torch,
    blas: hello.blas,
    ask: async (req) => {
      child.stdin.write(JSON.stringify(req) + '\n');
      const answer = await next();
      // PyTorch's OpenMP threads spin for a while after their last parallel region; measuring
      // lkvit during that would hand them half of the cores. Let them fall asleep first.
      await new Promise((r) => setTimeout(r, 250));
      return answer;
    },
    close: () => child.stdin.end(),
  };
}

module.exports = { findTorchPython, startPeer };
