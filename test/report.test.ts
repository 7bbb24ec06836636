// The report's figures as specifications: reliability diagrams as in Guo et al. 2017 (bars from 0,
// the gap shaded, the bin counts), projections with equal axes and one scale for every panel, one
// colour per label-smoothing value, the uncertainty a validation set of n images carries, confusion
// heatmaps and the most-confused pairs, image galleries.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { binomialHalfWidth, confusionCells, mostConfused } from '../src/eval/index.js';
import {
  accuracyCurves,
  barChart,
  confusedPairsChart,
  confusionHeatmap,
  gallerySvg,
  projectionScatter,
  reliabilityDiagram,
  render,
  settingColors,
  sharedDomain,
} from '../src/report/index.js';

type Layer = { mark: { type: string } | string; encoding: Record<string, { field?: string; datum?: number; scale?: { domain?: unknown } }> };
const bins = Array.from({ length: 15 }, (_, b) => ({ lo: b / 15, hi: (b + 1) / 15, count: b < 10 ? 0 : b, accuracy: 0.5, confidence: (b + 0.5) / 15 }));

test('a reliability diagram: bars rising from 0 to the accuracy, the gap to the confidence shaded, the counts above', async () => {
  const spec = reliabilityDiagram('ε = 0', bins, '#f58518') as unknown as { vconcat: Array<{ layer: Layer[] }> };
  const [counts, diagram] = spec.vconcat;
  const [bars, gap] = diagram!.layer;
  assert.deepEqual(bars!.encoding.y2, { datum: 0 });
  assert.deepEqual(bars!.encoding.y!.scale!.domain, [0, 1]);
  assert.equal(gap!.encoding.y!.field, 'gapLo');
  assert.equal(gap!.encoding.y2!.field, 'gapHi');
  assert.deepEqual(counts!.layer[0]!.encoding.y2, { datum: 0 });
  assert.equal(counts!.layer[1]!.encoding.text!.field, 'count');
  // Empty bins draw nothing; the drawn SVG holds the five bins' counts as text.
  const { svg } = await render(reliabilityDiagram('ε = 0', bins));
  for (const n of [10, 11, 12, 13, 14]) assert.match(svg, new RegExp(`>${n}</text>`));
});

test('projections: equal axes, the domain every panel shares, templates in their class colours and named', () => {
  const a = [
    { x: -3, y: 1 },
    { x: 2, y: 5 },
  ];
  const b = [{ x: 8, y: -1 }];
  const domain = sharedDomain([a, b]);
  assert.ok(domain[0] < -3 && domain[1] > 8);
  const spec = projectionScatter(
    'ε = 0',
    a.map((p) => ({ ...p, cls: 'coat' })),
    [
      { x: 0, y: 0, cls: 'coat' },
      { x: 1, y: 0, cls: 'shirt' },
      { x: 0, y: 1, cls: 'bag' },
    ],
    domain,
  ) as unknown as { width: number; height: number; layer: Layer[] };
  assert.equal(spec.width, spec.height);
  for (const layer of spec.layer) {
    assert.deepEqual(layer.encoding.x!.scale!.domain, domain);
    assert.deepEqual(layer.encoding.y!.scale!.domain, domain);
  }
  assert.equal(spec.layer[1]!.encoding.color!.field, 'cls');
  assert.equal(spec.layer[2]!.encoding.text!.field, 'cls');
});

test('one colour per ε in every chart', () => {
  const colors = settingColors(['0', '0.1']);
  const curves = accuracyCurves([{ setting: '0.1', epoch: 1, split: 'val', accuracy: 0.5, lo: 0.4, hi: 0.6 }], colors) as unknown as { layer: Layer[] };
  const bars = barChart('norm', [{ setting: '0.1', value: 3, sd: 0.5 }], '‖h‖', colors) as unknown as { layer: Layer[] };
  assert.deepEqual(curves.layer[1]!.encoding.color!.scale, colors);
  assert.deepEqual(bars.layer[0]!.encoding.color!.scale, colors);
  assert.equal(bars.layer.length, 2); // the bar and its ± sd rule
  assert.equal(curves.layer.length, 2); // the band and the lines
});

test("a validation set's 95% uncertainty on accuracy", () => {
  assert.ok(Math.abs(binomialHalfWidth(0.5, 50) - 1.96 * Math.sqrt(0.25 / 50)) < 1e-12); // 50 images: ±13.9 points
  assert.ok(binomialHalfWidth(0.9, 10000) < 0.006);
  assert.ok(binomialHalfWidth(1, 20) > 0); // never a false certainty at 100%
});

test("a confusion heatmap draws the matrix's counts in its cells; above 15 classes no counts, and the pairs chart ranks pairs by count", async () => {
  const matrix = [
    [5, 2, 0],
    [1, 7, 0],
    [0, 3, 4],
  ];
  const classes = ['ant', 'bee', 'cat'];
  const cells = confusionCells(matrix).map((c) => ({ truth: classes[c.truth]!, predicted: classes[c.predicted]!, count: c.count, rate: c.rate }));
  const { svg } = await render(confusionHeatmap('ε = 0', cells, classes));
  // A count per non-empty cell, none for the empty ones (0 is not written), every class on both axes.
  const counts = [...svg.matchAll(/>(\d+)<\/text>/g)].map((m) => Number(m[1]));
  for (const n of [5, 2, 1, 7, 3, 4]) assert.ok(counts.includes(n), `count ${n} in ${counts}`);
  for (const c of classes) assert.equal(svg.split(`>${c}</text>`).length - 1, 2, c);
  const many = Array.from({ length: 16 }, (_, k) => `c${k}`);
  const big = many.flatMap((t) => many.map((p) => ({ truth: t, predicted: p, count: 1, rate: 1 / 16 })));
  assert.equal((confusionHeatmap('big', big, many) as unknown as { layer: Layer[] }).layer.length, 1);
  const pairs = mostConfused(matrix).map((c) => ({ truth: classes[c.truth]!, predicted: classes[c.predicted]!, count: c.count }));
  const spec = confusedPairsChart('pairs', pairs) as unknown as { data: { values: Array<{ pair: string; rank: number }> } };
  assert.deepEqual(
    spec.data.values.map((v) => [v.pair, v.rank]),
    [
      ['cat → bee', 0],
      ['ant → bee', 1],
      ['bee → ant', 2],
    ],
  );
});

test('a gallery: a tile per image with its thumbnail at its size, its text escaped and cut to the tile, rows of columns', () => {
  const href = 'data:image/png;base64,AAAA';
  const tiles = Array.from({ length: 5 }, (_, k) => ({
    href: k === 4 ? null : href,
    width: 56,
    height: 56,
    lines: [{ text: `true: <a&b> ${k}` }, { text: 'x'.repeat(200), color: '#c62828', bold: true }],
  }));
  const svg = gallerySvg('ε = 0 "quoted"', tiles, { columns: 2, tileWidth: 250 });
  assert.equal(svg.split('<image ').length - 1, 4);
  assert.match(svg, /width="500" height="\d+"/);
  // Three rows of two tiles: 26 px of title, then 3 × (the 56-px thumbnail, taller than 2 lines of 14 px, + 2 × 8 of padding).
  assert.match(svg, new RegExp(`height="${26 + 3 * (56 + 16)}"`));
  assert.ok(svg.includes('true: &lt;a&amp;b&gt; 0') && svg.includes('ε = 0 &quot;quoted&quot;'));
  const long = /font-weight="bold">(x+…)<\/text>/.exec(svg)?.[1] ?? '';
  assert.ok(long.length > 10 && long.length < 40, long);
});
