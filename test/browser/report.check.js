#!/usr/bin/env node
// Renders a demo report's index.html in headless Chromium and checks that every figure shows and
// reads: each <img> loaded with a non-zero size, no console errors, no failed requests; in every
// SVG the legend lies outside the plot area (never over a curve) and no text runs off the figure.
// report.test.js runs it in `npm test` (CI installs Debian's chromium); by hand:
//   node test/browser/report.check.js lkvit-report/index.html report.png [--chromium /usr/bin/chromium]
'use strict';
const path = require('path');
const fs = require('fs');
const { pathToFileURL } = require('url');

const DEFAULT_CHROMIUM = '/usr/bin/chromium';

// In the page of one SVG: the plot area (the axes' box) and every text and legend swatch that overlaps it or leaves the figure.
function svgLayoutProblems() {
  const svg = document.querySelector('svg');
  const out = [];
  const axes = svg.querySelector('.axes path');
  if (!axes) return out;
  const plot = axes.getBBox();
  const W = Number(svg.getAttribute('width')),
    H = Number(svg.getAttribute('height'));
  const overlaps = (a, b) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
  for (const el of svg.querySelectorAll('.legend text, .legend rect')) {
    const b = el.getBBox();
    if (overlaps(b, plot)) out.push(`legend entry "${el.textContent || 'swatch'}" lies over the plot area`);
  }
  for (const el of svg.querySelectorAll('text')) {
    const b = el.getBBox();
    const t = el.getAttribute('transform');
    if (t) continue; // the rotated y label: its box is in unrotated coordinates
    if (b.x < 0 || b.y < 0 || b.x + b.width > W + 0.5 || b.y + b.height > H + 0.5)
      out.push(`text "${el.textContent}" runs off the ${W}x${H} figure`);
  }
  return out;
}

/** Loads `page` in Chromium; returns { figures, problems } and writes a full-page screenshot. */
async function checkReport(page, screenshot, executablePath = DEFAULT_CHROMIUM) {
  if (!fs.existsSync(page)) throw new Error(`no such file: ${page}`);
  const { chromium } = require('playwright-core');
  const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
  const problems = [];
  try {
    const tab = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    tab.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
    });
    tab.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    tab.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} (${r.failure()?.errorText})`));
    const response = await tab.goto(pathToFileURL(path.resolve(page)).href, { waitUntil: 'load' });
    if (response && !response.ok()) problems.push(`index.html: status ${response.status()}`);
    const figures = await tab.evaluate(() =>
      [...document.querySelectorAll('img')].map((img) => {
        const box = img.getBoundingClientRect();
        return {
          src: img.getAttribute('src'),
          complete: img.complete,
          naturalWidth: img.naturalWidth,
          naturalHeight: img.naturalHeight,
          width: box.width,
          height: box.height,
        };
      }),
    );
    if (figures.length === 0) problems.push('no figures on the page');
    for (const f of figures)
      if (!f.complete || !(f.naturalWidth > 0 && f.naturalHeight > 0) || !(f.width > 0 && f.height > 0))
        problems.push(
          `${f.src} did not render (natural ${f.naturalWidth}x${f.naturalHeight}, box ${f.width}x${f.height})`,
        );
    await tab.screenshot({ path: screenshot, fullPage: true });
    const figureTab = await browser.newPage();
    for (const f of figures) {
      if (!fs.existsSync(path.resolve(path.dirname(page), f.src))) continue; // reported above as not rendered
      await figureTab.goto(pathToFileURL(path.resolve(path.dirname(page), f.src)).href, { waitUntil: 'load' });
      for (const p of await figureTab.evaluate(svgLayoutProblems)) problems.push(`${f.src}: ${p}`);
    }
    return { figures, problems };
  } finally {
    await browser.close();
  }
}

module.exports = { checkReport, DEFAULT_CHROMIUM };

if (require.main === module) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--chromium');
  const executablePath = at >= 0 ? args.splice(at, 2)[1] : DEFAULT_CHROMIUM;
  const [page, screenshot] = args;
  if (!page || !screenshot) {
    console.error('usage: node test/browser/report.check.js REPORT/index.html SCREENSHOT.png [--chromium PATH]');
    process.exit(2);
  }
  checkReport(page, screenshot, executablePath).then(
    ({ figures, problems }) => {
      for (const f of figures)
        console.log(
          `${f.src}: ${f.naturalWidth}x${f.naturalHeight}, shown ${Math.round(f.width)}x${Math.round(f.height)}`,
        );
      if (problems.length) {
        for (const p of problems) console.error(`FAIL ${p}`);
        process.exitCode = 1;
      } else console.log(`ok: ${figures.length} figures rendered, legends off the curves, no console errors`);
    },
    (e) => {
      console.error(`report.check: ${e.message}`);
      process.exitCode = 2;
    },
  );
}
