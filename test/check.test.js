// checkOneOf and choices (src/tensor/check.ts): every "must be one of" message in lkvit comes from
// here, so the wording, the error class and the way the bad value is shown are pinned once.
'use strict';
const test = require('ava');
const { checkOneOf, choices } = require('../lib/tensor/check');
const lk = require('..');

test('choices lists one, two and several values the way the messages read', (t) => {
  t.is(choices(['linf']), "'linf'");
  t.is(choices(['linf', 'l2']), "'linf' or 'l2'");
  t.is(choices(['mean', 'sum', 'none']), "one of 'mean', 'sum' or 'none'");
  t.is(choices([1, 2, 3]), 'one of 1, 2 or 3');
});

test('checkOneOf returns an allowed value unchanged', (t) => {
  t.is(checkOneOf('op', 'mode', 'b', ['a', 'b', 'c']), 'b');
  t.is(checkOneOf('op', 'k', 3, [1, 3]), 3);
});

test('checkOneOf: a value of the right type but not allowed is a RangeError naming op, argument, choices and value', (t) => {
  t.throws(() => checkOneOf('pgd', 'norm', 'l1', ['linf', 'l2']), {
    instanceOf: RangeError,
    message: "pgd: norm must be 'linf' or 'l2', got 'l1'",
  });
  t.throws(() => checkOneOf('op', 'k', 2, [1, 3]), { instanceOf: RangeError, message: 'op: k must be 1 or 3, got 2' });
  // Case matters: 'Mean' is not 'mean'.
  t.throws(() => checkOneOf('ce', 'reduction', 'Mean', ['mean', 'sum', 'none']), {
    instanceOf: RangeError,
    message: "ce: reduction must be one of 'mean', 'sum' or 'none', got 'Mean'",
  });
});

test('checkOneOf: a value of another type is a TypeError, shown with describe', (t) => {
  const cases = [
    [2, '2'],
    [undefined, 'undefined'],
    [null, 'null'],
    [['linf'], "['linf']"],
    [{}, 'Object'],
    [new Float32Array(2), 'Float32Array'],
    [lk.tensor([1, 2], [2]), 'Tensor[2]'],
    [Symbol.iterator, 'Symbol(Symbol.iterator)'],
  ];
  for (const [v, shown] of cases)
    t.throws(() => checkOneOf('op', 'norm', v, ['linf', 'l2']), {
      instanceOf: TypeError,
      message: `op: norm must be 'linf' or 'l2', got ${shown}`,
    });
});

test('the ops use it: pgdStep norm and crossEntropy reduction', (t) => {
  const x = lk.tensor([0.5, 0.5], [1, 2]);
  t.throws(() => lk.ops.pgdStep(x, x, { x0: x, eps: 0.1, alpha: 0.1, norm: 'L2' }), {
    instanceOf: RangeError,
    message: "pgdStep: norm must be 'linf' or 'l2', got 'L2'",
  });
  t.throws(() => lk.ops.crossEntropy(x, [0], { reduction: 1 }), {
    instanceOf: TypeError,
    message: "crossEntropy: reduction must be one of 'mean', 'sum' or 'none', got 1",
  });
});
