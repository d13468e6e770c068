// The demo report in a real browser: a tiny two-seed run rendered by headless Chromium (Debian's
// /usr/bin/chromium through playwright-core). Every figure must load, no legend may sit over the
// plot, no text may run off a figure. Skipped where there is no chromium, except under CI=true,
// where a missing browser is a failure (.ci/run installs it).
'use strict';
const test = require('ava');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { runDemo } = require('../../lib/demo/run');
const { lineChart } = require('../../lib/plot');
const { checkReport, DEFAULT_CHROMIUM } = require('./report.check');

const chromium = process.env.LKVIT_CHROMIUM || DEFAULT_CHROMIUM;
const haveChromium = fs.existsSync(chromium);
const inCi = process.env.CI === 'true';

const TINY = {
  trainSamples: 96,
  epochs: 1,
  batchSize: 32,
  testSamples: 40,
  noiseSamples: 20,
  attackSamples: 20,
  lesionSamples: 20,
  evalBatchSize: 20,
  eps: [0, 0.05, 0.1],
  pgdSteps: 2,
  occlusionRatios: [0.3, 0.6],
  frequencyBands: [0, 0.3, 0.6],
  lesionTrials: 2,
};

if (!haveChromium && inCi)
  test('the report renders in headless Chromium', (t) => {
    t.fail(
      `CI=true but there is no chromium at ${chromium}: install Debian's chromium (apt-get install chromium) or set LKVIT_CHROMIUM`,
    );
  });
else
  (haveChromium ? test : test.skip)(
    'the report renders in headless Chromium: every figure loads, legends off the curves, no text off a figure',
    async (t) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lkvit-browser-'));
      await runDemo({ out: dir, seeds: 2, settings: TINY });
      const screenshot = path.join(dir, 'report.png');
      const { figures, problems } = await checkReport(path.join(dir, 'index.html'), screenshot, chromium);
      t.deepEqual(problems, []);
      t.deepEqual(
        figures.map((f) => f.src),
        ['training', 'fgsm', 'pgd', 'occlusion', 'frequency', 'frequency-clipped', 'lesion', 'kernel-distance'].map(
          (n) => `${n}.svg`,
        ),
      );
      for (const f of figures) t.deepEqual([f.naturalWidth, f.naturalHeight], [640, 440], f.src);
      // A full-page PNG: wider than the figures and taller than all of them stacked.
      const png = fs.readFileSync(screenshot);
      t.is(png.toString('ascii', 1, 4), 'PNG');
      t.true(png.readUInt32BE(20) > 8 * 440, `screenshot height ${png.readUInt32BE(20)}`);

      // The check itself: a legend drawn over the curves, a title wider than the figure and a missing image are caught.
      const bad = fs.mkdtempSync(path.join(os.tmpdir(), 'lkvit-browser-bad-'));
      const series = [
        {
          name: 'a long legend entry',
          points: [
            [0, 0],
            [1, 100],
          ],
        },
        {
          name: 'another',
          points: [
            [0, 100],
            [1, 0],
          ],
        },
      ];
      fs.writeFileSync(
        path.join(bad, 'inside.svg'),
        lineChart(series, {
          legend: 'inside',
          title:
            'A title far too long for a figure only six hundred and forty pixels wide: it runs off both of its sides, as any reader would see at once',
        }),
      );
      fs.writeFileSync(
        path.join(bad, 'index.html'),
        '<!DOCTYPE html><html><body><img src="inside.svg"><img src="missing.svg"></body></html>',
      );
      const caught = await checkReport(path.join(bad, 'index.html'), path.join(bad, 'bad.png'), chromium);
      const all = caught.problems.join('\n');
      t.regex(all, /inside\.svg: legend entry "a long legend entry" lies over the plot area/);
      t.regex(all, /inside\.svg: text "A title far too long.*" runs off the 640x440 figure/);
      t.regex(all, /missing\.svg did not render/);
    },
  );
