#!/usr/bin/env node
// Renders a demo report's index.html in headless Chromium and checks that every figure shows:
// each <img> loaded with a non-zero size, each inline <svg> has a non-empty box, no console errors,
// no failed requests. Not part of `npm test` (CI has no browser); needs Debian's chromium and the
// playwright-core dev dependency.
//   node test/browser/report.check.js lkvit-report/index.html report.png [--chromium /usr/bin/chromium]
'use strict';
const path = require('path');
const fs = require('fs');
const { pathToFileURL } = require('url');

async function main(argv) {
  const args = argv.slice();
  const at = args.indexOf('--chromium');
  const executablePath = at >= 0 ? args.splice(at, 2)[1] : '/usr/bin/chromium';
  const [page, screenshot] = args;
  if (!page || !screenshot) throw new Error('usage: node test/browser/report.check.js REPORT/index.html SCREENSHOT.png [--chromium PATH]');
  if (!fs.existsSync(page)) throw new Error(`no such file: ${page}`);
  const { chromium } = require('playwright-core');
  const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
  const problems = [];
  try {
    const tab = await browser.newPage({ viewport: { width: 1000, height: 800 } });
    tab.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
    tab.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    tab.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} (${r.failure()?.errorText})`));
    const response = await tab.goto(pathToFileURL(path.resolve(page)).href, { waitUntil: 'load' });
    if (response && !response.ok()) problems.push(`index.html: status ${response.status()}`);
    const figures = await tab.evaluate(() => [
      ...[...document.querySelectorAll('img')].map((img) => {
        const box = img.getBoundingClientRect();
        return { kind: 'img', src: img.getAttribute('src'), complete: img.complete, naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight, width: box.width, height: box.height };
      }),
      ...[...document.querySelectorAll('body > svg, section svg')].map((svg, i) => {
        const box = svg.getBoundingClientRect();
        return { kind: 'svg', src: `inline svg ${i}`, complete: true, naturalWidth: box.width, naturalHeight: box.height, width: box.width, height: box.height };
      }),
    ]);
    if (figures.length === 0) problems.push('no figures on the page');
    for (const f of figures)
      if (!f.complete || !(f.naturalWidth > 0 && f.naturalHeight > 0) || !(f.width > 0 && f.height > 0))
        problems.push(`${f.src} did not render (natural ${f.naturalWidth}x${f.naturalHeight}, box ${f.width}x${f.height})`);
    await tab.screenshot({ path: screenshot, fullPage: true });
    return { figures, problems };
  } finally {
    await browser.close();
  }
}

main(process.argv.slice(2)).then(({ figures, problems }) => {
  for (const f of figures) console.log(`${f.src}: ${f.naturalWidth}x${f.naturalHeight}, shown ${Math.round(f.width)}x${Math.round(f.height)}`);
  if (problems.length) {
    for (const p of problems) console.error(`FAIL ${p}`);
    process.exitCode = 1;
  } else console.log(`ok: ${figures.length} figures rendered, no console errors`);
}, (e) => {
  console.error(`report.check: ${e.message}`);
  process.exitCode = 2;
});
