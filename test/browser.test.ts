// The report in a real browser: a tiny `lsr compare` report opened in headless Chromium, whose every
// figure must be laid out at a real size with marks drawn, and a screenshot that is a picture of the
// page. Without Chromium (apt-get install chromium) these tests are skipped, saying why.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { findChromium, inspectReport, screenshotReport } from '../src/report/index.js';
import { distRoot } from './helpers.js';

const chromium = findChromium();
const skip = chromium ? false : 'no chromium: apt-get install chromium';

let root = '';
let report = '';
let foldsReport = '';
before(async () => {
  root = mkdtempSync(join(tmpdir(), 'lsr-browser-'));
  if (!chromium) return;
  // Three classes of 10 16-px images, each mostly one colour; half for validation, so that each
  // class has the 5 validation images a projection needs: a 2-epoch ResNet-20 compare (~10 s).
  const data = join(root, 'data');
  for (const [c, label] of ['red', 'green', 'blue'].entries()) {
    mkdirSync(join(data, label), { recursive: true });
    for (let i = 0; i < 10; i++) {
      const px = Buffer.alloc(16 * 16 * 3);
      for (let k = 0; k < px.length; k++) px[k] = (k % 3 === c ? 200 : 40) + ((k * 7 + i * 13) % 40);
      await sharp(px, { raw: { width: 16, height: 16, channels: 3 } })
        .png()
        .toFile(join(data, label, `${i}.png`));
    }
  }
  const out = join(root, 'run');
  const args = ['compare', '--data', data, '--model', 'resnet20', '--epochs', '2', '--batch-size', '8', '--workers', '0', '--threads', '2'];
  const r = spawnSync(process.execPath, [join(distRoot, 'src', 'cli', 'main.js'), ...args, '--val-fraction', '0.5', '--smoothing', '0,0.1', '--out', out], {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: '2' },
  });
  assert.equal(r.status, 0, r.stderr);
  report = join(out, 'report.html');
  // The same data cross-validated with labels flipped: the disputed-labels gallery (~20 s).
  const folds = join(root, 'folds');
  const f = spawnSync(
    process.execPath,
    [join(distRoot, 'src', 'cli', 'main.js'), ...args, '--folds', '2', '--label-noise', '0.3', '--smoothing', '0,0.1', '--out', folds],
    {
      encoding: 'utf8',
      env: { ...process.env, OMP_NUM_THREADS: '2' },
    },
  );
  assert.equal(f.status, 0, f.stderr);
  foldsReport = join(folds, 'report.html');
});
after(() => rmSync(root, { recursive: true, force: true }));

test('LSR_CHROMIUM that names nothing counts as no Chromium, and inspecting then says what to install', async () => {
  const saved = process.env.LSR_CHROMIUM;
  try {
    process.env.LSR_CHROMIUM = '/nonexistent';
    assert.equal(findChromium(), null);
    process.env.LSR_CHROMIUM = 'no-such-browser-lsr';
    assert.equal(findChromium(), null);
    const page = join(root, 'page.html');
    writeFileSync(page, '<!doctype html><title>x</title>');
    await assert.rejects(inspectReport(page), (e: Error) => e.message.includes(page) && /apt-get install chromium/.test(e.message));
  } finally {
    if (saved === undefined) delete process.env.LSR_CHROMIUM;
    else process.env.LSR_CHROMIUM = saved;
  }
  await assert.rejects(inspectReport(join(root, 'missing.html')), /missing\.html: no such report/);
});

describe('the report in headless Chromium', () => {
  test('every figure is laid out at a real size, with marks drawn', { skip }, async () => {
    const html = readFileSync(report, 'utf8');
    const tags = html.match(/<figure[\s>]/g)?.length ?? 0;
    // Accuracy curves, two reliability diagrams, the feature norms' bars, two projections, two mistake galleries, two confusion matrices.
    assert.ok(tags >= 10, `${tags} <figure> tags`);
    const layout = await inspectReport(report);
    assert.equal(layout.figureCount, tags);
    assert.equal(layout.figures.length, tags);
    assert.deepEqual(layout.problems, []);
    for (const f of layout.figures) {
      const what = `figure ${f.index} (${f.caption})`;
      assert.ok(f.caption.length > 0, `${what}: caption`);
      assert.ok(f.width > 50 && f.height > 50, `${what}: ${f.width}×${f.height} px`);
      assert.ok(f.marks >= 5, `${what}: ${f.marks} marks (${JSON.stringify(f.marksByTag)})`);
      // Text drawn at a real size: the browser found a font for the axes' labels.
      assert.ok((f.marksByTag.text ?? 0) >= 2, `${what}: ${JSON.stringify(f.marksByTag)}`);
    }
    assert.equal(layout.title, /<title>([^<]*)<\/title>/.exec(html)![1]);
    assert.ok(layout.scrollHeight > 500, `page height ${layout.scrollHeight}`);
  });

  test('the galleries of mistakes and disputed labels show decodable thumbnails, and the confusion heatmaps draw their cells', { skip }, async () => {
    for (const [file, disputed] of [
      [report, false],
      [foldsReport, true],
    ] as const) {
      const html = readFileSync(file, 'utf8');
      const layout = await inspectReport(file);
      assert.deepEqual(layout.problems, [], file);
      const figures = (what: RegExp) => layout.figures.filter((f) => what.test(f.caption));
      const galleries = figures(/most confidently wrong/);
      const heatmaps = figures(/^Confusion matrix/);
      const disputes = figures(/labels confident learning disputes/);
      // One of each per ε.
      assert.equal(galleries.length, 2, `${file}: mistake galleries`);
      assert.equal(heatmaps.length, 2, `${file}: confusion heatmaps`);
      assert.equal(disputes.length, disputed ? 2 : 0, `${file}: disputed galleries`);
      for (const g of [...galleries, ...disputes]) {
        // Every tile a thumbnail laid out at its size, with its lines of text.
        const images = g.marksByTag.image ?? 0;
        assert.ok(images >= 1 && g.width > 500 && g.height > 80, `${g.caption}: ${images} images, ${g.width}×${g.height}`);
        assert.ok((g.marksByTag.text ?? 0) >= 1 + 2 * images, `${g.caption}: ${JSON.stringify(g.marksByTag)}`);
      }
      // 3 classes: 9 cells and a count in each non-empty one.
      for (const h of heatmaps)
        assert.ok((h.marksByTag.path ?? 0) + (h.marksByTag.rect ?? 0) >= 9 && (h.marksByTag.text ?? 0) >= 4, JSON.stringify(h.marksByTag));
      // The thumbnails are inline PNGs of the dataset's images (16² enlarged ×4), drawn at their own size.
      const thumbs = [...html.matchAll(/<image x="[^"]*" y="[^"]*" width="(\d+)" height="(\d+)" xlink:href="data:image\/png;base64,([^"]+)"/g)];
      assert.ok(thumbs.length >= galleries.length, `${thumbs.length} thumbnails`);
      for (const [, w, h, b64] of thumbs) {
        const meta = await sharp(Buffer.from(b64!, 'base64')).metadata();
        assert.deepEqual([meta.format, meta.width, meta.height], ['png', Number(w), Number(h)]);
        assert.deepEqual([meta.width, meta.height], [64, 64]);
      }
      if (disputed) {
        assert.match(html, /precision \d+\.\d%, recall \d+\.\d% of the \d+ flips/);
        assert.match(html, /flipped, was|not flipped/);
      }
    }
  });

  test('a screenshot is a PNG of the whole page, not a blank one', { skip }, async () => {
    const png = join(root, 'shots', 'report.png');
    mkdirSync(join(root, 'shots'));
    const shot = await screenshotReport(report, png, { width: 1000 });
    assert.equal(shot.path, png);
    assert.equal(shot.width, 1000);
    assert.equal(shot.height, Math.min(Math.ceil(shot.layout.scrollHeight), 8000));
    const meta = await sharp(png).metadata();
    assert.equal(meta.format, 'png');
    assert.deepEqual([meta.width, meta.height], [1000, shot.height]);
    const stats = await sharp(png).stats();
    for (const ch of stats.channels.slice(0, 3)) assert.ok(ch.stdev > 5 && ch.min < 100 && ch.max > 200, JSON.stringify(ch));
    // Mostly page background, with the charts' colours somewhere: not grey only.
    const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    let white = 0;
    let coloured = 0;
    for (let i = 0; i < data.length; i += info.channels) {
      const [r, g, b] = [data[i]!, data[i + 1]!, data[i + 2]!];
      if (r > 245 && g > 245 && b > 245) white++;
      if (Math.max(r, g, b) - Math.min(r, g, b) > 60) coloured++;
    }
    const n = data.length / info.channels;
    assert.ok(white / n > 0.5 && white / n < 0.995, `white ${white / n}`);
    assert.ok(coloured > 200, `${coloured} coloured pixels`);
    assert.deepEqual(
      readdirSync(join(root, 'shots')).filter((f) => f !== 'report.png'),
      [],
      'no temporary file left',
    );
  });

  test('a figure without an svg, or with nothing drawn, is reported as a problem', { skip }, async () => {
    const page = join(root, 'broken.html');
    writeFileSync(
      page,
      `<!doctype html><html><head><title>broken &amp; «odd»</title></head><body>
<figure><svg width="200" height="100"><rect x="10" y="10" width="50" height="50" fill="red"/><text x="80" y="40">ok</text></svg><figcaption>good one</figcaption></figure>
<figure><figcaption>no svg</figcaption></figure>
<figure><svg width="200" height="100"></svg><figcaption>empty <b>svg</b> “quoted”</figcaption></figure>
<figure><svg width="0" height="0"><rect width="5" height="5"/></svg><figcaption>zero</figcaption></figure>
</body></html>`,
    );
    const layout = await inspectReport(page, { width: 800 });
    assert.equal(layout.title, 'broken & «odd»');
    assert.equal(layout.figureCount, 4);
    assert.deepEqual(
      layout.figures.map((f) => [f.caption, f.width, f.height, f.marks]),
      [
        ['good one', 200, 100, 2],
        ['no svg', 0, 0, 0],
        ['empty svg “quoted”', 200, 100, 0],
        ['zero', 0, 0, 1],
      ],
    );
    assert.deepEqual(layout.problems, [
      { index: 1, caption: 'no svg', problem: 'no <svg>' },
      { index: 2, caption: 'empty svg “quoted”', problem: 'svg with nothing drawn' },
      { index: 3, caption: 'zero', problem: 'svg of size 0x0' },
    ]);
  });

  test('Chromium that runs past the timeout is killed, and the error names the file', { skip }, async () => {
    await assert.rejects(inspectReport(report, { timeoutMs: 1 }), (e: Error) => e.message.includes(report) && /did not finish within 1 ms/.test(e.message));
    assert.ok(existsSync(report));
  });
});
