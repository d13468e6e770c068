// Node's command-line conventions, checked on every command: --version / -v, -h, --help, --json
// [FILE] and --quiet everywhere the README promises them, and "did you mean" for a misspelt
// command, flag or model name.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const test = require('ava');
const { runCli: run } = require('./cli_run');
const { COMMANDS } = require('../lib/cli/main');
const { editDistance, didYouMean } = require('../lib/cli/args');
const pkg = require('../package.json');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lkvit-conv-'));
// Commands that take a sub-name before their flags.
const PREFIX = { analyze: ['occlusion'], bench: ['dwconv'] };

test.serial('--version and -v print the package version; -h is --help', async (t) => {
  for (const flag of ['--version', '-v']) {
    const r = await run([flag]);
    t.is(r.code, 0);
    t.is(r.out, pkg.version);
  }
  const h = await run(['-h']);
  t.is(h.code, 0);
  t.is(h.out, (await run(['--help'])).out);
  t.regex(h.out, /'lkvit --version' \(-v\) prints the version/);
  const sub = await run(['predict', '-h']);
  t.is(sub.code, 0);
  t.is(sub.out, (await run(['predict', '--help'])).out);
});

test.serial('every command takes --help together with --quiet and --json [FILE]', async (t) => {
  for (const name of Object.keys(COMMANDS)) {
    const pre = PREFIX[name] ?? [];
    for (const extra of [['--quiet'], ['--json', path.join(tmp, 'h.json')], ['--json']]) {
      const r = await run([name, ...pre, '--help', ...extra]);
      t.is(r.code, 0, `${name} ${extra.join(' ')}: ${r.err}`);
      t.regex(r.out, /usage: lkvit|commands:/, name);
    }
    const help = (await run([name, ...pre, '--help'])).out;
    t.regex(help, /--json \[FILE\]/, `${name} --help lists --json`);
    t.regex(help, /--quiet/, `${name} --help lists --quiet`);
  }
});

test.serial('models --json FILE writes the list, --quiet is accepted, a bare --json prints only JSON', async (t) => {
  const file = path.join(tmp, 'models.json');
  const r = await run(['models', '--json', file, '--quiet']);
  t.is(r.code, 0, r.err);
  const list = JSON.parse(fs.readFileSync(file, 'utf8'));
  t.true(list.some((m) => m.name === 'replknet31b'));
  t.regex(r.out, /^replknet31b +mean/m);
  const bare = await run(['models', '--json']);
  t.deepEqual(JSON.parse(bare.out), list);
  const help = await run(['help', '--json']);
  t.deepEqual(Object.keys(JSON.parse(help.out).commands), Object.keys(COMMANDS));
  const bad = await run(['models', '--jsn']);
  t.is(bad.code, 2);
  t.regex(bad.err, /unknown flag --jsn \(did you mean --json\?\)/);
});

test.serial(
  '"did you mean" for a misspelt command, flag, help topic and model name; nothing for a far miss',
  async (t) => {
    const cases = [
      [['predcit'], /unknown command 'predcit' \(did you mean predict\?\)/],
      [['atack', '--help'], /\(did you mean attack\?\)/],
      [['--verison'], /unknown option '--verison' \(did you mean --version\?\)/],
      [['eval', '--suit', 'imagenet'], /unknown flag --suit \(did you mean --suite\?\)/],
      [['help', 'anlyze'], /unknown command 'anlyze' \(did you mean analyze\?\)/],
      [
        [
          'predict',
          '--model',
          'convnext_tny',
          '--weights',
          __filename,
          '--input',
          __filename,
          '--out',
          path.join(tmp, 'o.safetensors'),
        ],
        /'convnext_tny' is not a model \(did you mean convnext_tiny\?\)/,
      ],
    ];
    for (const [argv, message] of cases) {
      const r = await run(argv);
      t.is(r.code, 2, argv.join(' '));
      t.regex(r.err, message);
    }
    const far = await run(['zzzzzzzz']);
    t.notRegex(far.err, /did you mean/);
  },
);

test('editDistance is the optimal-string-alignment distance; didYouMean picks the nearest within a third of the length', (t) => {
  // Textbook values (no swaps in them, so Levenshtein's), then swaps of neighbours.
  t.is(editDistance('kitten', 'sitting'), 3);
  t.is(editDistance('flaw', 'lawn'), 2);
  t.is(editDistance('ca', 'ac'), 1);
  t.is(editDistance('abcdef', 'badcfe'), 3);
  t.is(editDistance('', 'abc'), 3);
  t.is(editDistance('same', 'same'), 0);
  t.is(didYouMean('wieghts', ['weights', 'model'], '--'), ' (did you mean --weights?)');
  t.is(didYouMean('x', ['weights', 'model']), '');
  t.is(didYouMean('modle', ['weights', 'model']), ' (did you mean model?)'); // a swap is one edit
  t.is(didYouMean('modle', ['mode', 'model']), ' (did you mean mode?)'); // a tie goes to the first
});
