#!/usr/bin/env node
// A PNG of a whole report as headless Chromium draws it, for the docs:
//   node scripts/report-screenshots.mjs RUN_DIR/report.html docs/img/NAME.png [--width 1200] [--scale 1] [--height H] [--max-height 8000]
// (npm run report:screenshot -- ...). Needs the TypeScript build (npm run build:ts) and Chromium
// (apt-get install chromium, or LSR_CHROMIUM=/path/to/chrome). Prints each figure as the browser
// laid it out; exits 1 when a figure has no svg or nothing drawn (the PNG is written all the same).
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const USAGE = 'usage: node scripts/report-screenshots.mjs REPORT.html OUT.png [--width 1200] [--scale 1] [--height H] [--max-height 8000]';

const browserJs = fileURLToPath(new URL('../dist/src/report/browser.js', import.meta.url));
if (!existsSync(browserJs)) {
  console.error(`${relative(process.cwd(), browserJs)} is missing: run npm run build:ts first`);
  process.exit(1);
}
const { findChromium, screenshotReport } = await import(browserJs);

let args;
try {
  args = parseArgs({
    allowPositionals: true,
    options: {
      width: { type: 'string' },
      height: { type: 'string' },
      scale: { type: 'string' },
      'max-height': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
} catch (e) {
  console.error(`${e.message}\n${USAGE}`);
  process.exit(2);
}
if (args.values.help) {
  console.log(USAGE);
  process.exit(0);
}
if (args.positionals.length !== 2) {
  console.error(USAGE);
  process.exit(2);
}

/** A positive number from --name, or undefined when not given. */
function number(name) {
  const v = args.values[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`--${name} ${v}: expected a positive number\n${USAGE}`);
    process.exit(2);
  }
  return n;
}

const [report, png] = args.positionals;
const options = { width: number('width'), height: number('height'), scale: number('scale'), maxHeight: number('max-height') };
for (const k of Object.keys(options)) if (options[k] === undefined) delete options[k];

if (!findChromium()) {
  console.error('no Chromium found: apt-get install chromium (or set LSR_CHROMIUM to a Chrome or Chromium executable)');
  process.exit(1);
}
try {
  mkdirSync(dirname(png), { recursive: true });
  const shot = await screenshotReport(report, png, options);
  const scale = options.scale ?? 1;
  console.log(`${shot.path}: ${shot.width * scale}×${shot.height * scale} px (page ${shot.layout.scrollWidth}×${shot.layout.scrollHeight} CSS px)`);
  for (const f of shot.layout.figures) console.log(`  figure ${f.index}: ${f.width}×${f.height}, ${f.marks} marks: ${f.caption}`);
  if (shot.height < shot.layout.scrollHeight) console.log(`  (cut at ${shot.height} px: --max-height or --height)`);
  for (const p of shot.layout.problems) console.error(`  figure ${p.index} (${p.caption}): ${p.problem}`);
  if (shot.layout.problems.length) process.exit(1);
} catch (e) {
  console.error(e.message);
  process.exit(1);
}
