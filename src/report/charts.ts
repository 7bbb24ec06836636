// Figures as vega-lite specifications, rendered to SVG by vega (headless, in Node) and to PNG by
// resvg. Each function returns a spec; render() draws one.
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';

export type Spec = TopLevelSpec;

export async function render(spec: Spec): Promise<{ svg: string; png: Uint8Array }> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return { svg, png: svgToPng(svg) };
}

/** An SVG drawn to PNG by resvg at twice its size, on white, in DejaVu Sans: every figure's PNG copy. */
export function svgToPng(svg: string): Uint8Array {
  return new Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, background: 'white', font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } })
    .render()
    .asPng();
}

const base = { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', background: 'white' } as const;

/** One colour per label-smoothing value, the same in every chart of a report: a vega-lite scale. */
export interface ColorScale {
  domain: string[];
  range: string[];
}

// Tableau 10, vega's default categorical palette: the first value (hard labels) blue, the second orange.
const PALETTE = ['#4c78a8', '#f58518', '#54a24b', '#e45756', '#72b7b2', '#eeca3b', '#b279a2', '#ff9da6', '#9d755d', '#bab0ac'];

/** The colours of the settings, in their order (the palette repeats past ten). */
export function settingColors(settings: string[]): ColorScale {
  return { domain: settings, range: settings.map((_, i) => PALETTE[i % PALETTE.length]!) };
}

/**
 * Train and val accuracy per epoch, one colour per setting, dashed for train (the seed's figure).
 * Rows with `lo` and `hi` (mean ± sd over seeds) draw a band around their line.
 */
export function accuracyCurves(
  rows: Array<{ setting: string; epoch: number; split: 'train' | 'val'; accuracy: number; lo?: number; hi?: number }>,
  colors: ColorScale = settingColors([...new Set(rows.map((r) => r.setting))]),
  legendTitle = 'label smoothing ε',
): Spec {
  // The legend's symbols are strokes, as the lines are (a band's layer would otherwise make them faint areas).
  const color = {
    field: 'setting',
    type: 'nominal',
    title: legendTitle,
    scale: colors,
    legend: { symbolType: 'stroke', symbolStrokeWidth: 3, symbolOpacity: 1, symbolSize: 300 },
  };
  const x = { field: 'epoch', type: 'quantitative', axis: { tickMinStep: 1, format: 'd' } };
  // Bands for validation alone: train's and val's would overlap into one smear.
  const band = rows.filter((r) => r.split === 'val' && r.lo !== undefined && r.hi !== undefined);
  return {
    ...base,
    title: 'Accuracy per epoch',
    width: 420,
    height: 260,
    data: { values: rows },
    layer: [
      ...(band.length
        ? [
            {
              data: { values: band },
              mark: { type: 'area', opacity: 0.18 },
              encoding: {
                x,
                y: { field: 'lo', type: 'quantitative', scale: { zero: false } },
                y2: { field: 'hi' },
                color,
              },
            },
          ]
        : []),
      {
        mark: { type: 'line', point: true },
        encoding: {
          x,
          y: { field: 'accuracy', type: 'quantitative', scale: { zero: false }, axis: { format: '.0%' }, title: 'accuracy' },
          color,
          // Explicit: a nominal scale's own order would dash the second split (val), not train.
          strokeDash: {
            field: 'split',
            type: 'nominal',
            title: 'split',
            scale: {
              domain: ['train', 'val'],
              range: [
                [5, 3],
                [1, 0],
              ],
            },
            legend: { symbolType: 'stroke', symbolStrokeColor: '#555', symbolFillColor: 'transparent', symbolSize: 300 },
          },
        },
      },
    ],
  } as Spec;
}

/**
 * A reliability diagram as in Guo et al. 2017: per confidence bin, a bar rising from 0 to the bin's
 * accuracy, the gap between it and the bin's mean confidence shaded red, the diagonal of perfect
 * calibration, and above it the number of samples in each bin.
 */
export function reliabilityDiagram(
  title: string,
  bins: Array<{ lo: number; hi: number; count: number; accuracy: number; confidence: number }>,
  color = PALETTE[0]!,
): Spec {
  const values = bins.filter((b) => b.count > 0).map((b) => ({ ...b, gapLo: Math.min(b.accuracy, b.confidence), gapHi: Math.max(b.accuracy, b.confidence) }));
  const x = { field: 'lo', type: 'quantitative', scale: { domain: [0, 1] }, title: 'confidence' };
  return {
    ...base,
    title,
    vconcat: [
      {
        width: 260,
        height: 60,
        data: { values },
        layer: [
          {
            mark: { type: 'bar', color: '#888', stroke: 'white' },
            encoding: {
              x: { ...x, title: null, axis: { labels: false } },
              x2: { field: 'hi' },
              // y2 at 0: with x and x2 given, vega-lite would otherwise draw a horizontal dash at the value.
              y: { field: 'count', type: 'quantitative', title: 'images', axis: { tickCount: 2, format: 'd' } },
              y2: { datum: 0 },
            },
          },
          {
            mark: { type: 'text', dy: -5, fontSize: 9, color: '#333' },
            encoding: {
              x: { field: 'mid', type: 'quantitative', scale: { domain: [0, 1] } },
              y: { field: 'count', type: 'quantitative' },
              text: { field: 'count', type: 'quantitative' },
            },
            transform: [{ calculate: '(datum.lo + datum.hi) / 2', as: 'mid' }],
          },
        ],
      },
      {
        width: 260,
        height: 260,
        layer: [
          {
            data: { values },
            mark: { type: 'bar', color, stroke: '#333', strokeWidth: 0.5 },
            encoding: {
              x,
              x2: { field: 'hi' },
              y: { field: 'accuracy', type: 'quantitative', scale: { domain: [0, 1], nice: false }, title: 'accuracy' },
              y2: { datum: 0 },
              tooltip: [{ field: 'count' }, { field: 'confidence', format: '.3f' }, { field: 'accuracy', format: '.3f' }],
            },
          },
          {
            data: { values },
            mark: { type: 'bar', color: '#d62728', opacity: 0.3, stroke: '#d62728', strokeWidth: 1 },
            encoding: { x, x2: { field: 'hi' }, y: { field: 'gapLo', type: 'quantitative' }, y2: { field: 'gapHi' } },
          },
          {
            data: {
              values: [
                { a: 0, b: 0 },
                { a: 1, b: 1 },
              ],
            },
            mark: { type: 'line', color: 'gray', strokeDash: [4, 4] },
            encoding: { x: { field: 'a', type: 'quantitative' }, y: { field: 'b', type: 'quantitative' } },
          },
        ],
      },
    ],
  } as Spec;
}

/**
 * Penultimate activations projected on the plane of three templates (Müller et al. 2019, Fig. 1):
 * equal aspect, the axes' `domain` shared by every panel of a report (so that their scales
 * compare), each template drawn in its class's colour and named.
 */
export function projectionScatter(
  title: string,
  points: Array<{ x: number; y: number; cls: string }>,
  templates: Array<{ x: number; y: number; cls: string }>,
  domain: [number, number],
): Spec {
  const scale = { domain, nice: false, zero: false };
  const classes = templates.map((t) => t.cls);
  const color = { field: 'cls', type: 'nominal', title: 'class', scale: { domain: classes, range: ['#1b9e77', '#d95f02', '#7570b3'] } };
  const x = { field: 'x', type: 'quantitative', scale, title: 'plane axis 1' };
  const y = { field: 'y', type: 'quantitative', scale, title: 'plane axis 2' };
  return {
    ...base,
    title,
    width: 300,
    height: 300,
    layer: [
      { data: { values: points }, mark: { type: 'circle', size: 22, opacity: 0.55, clip: true }, encoding: { x, y, color } },
      {
        data: { values: templates },
        mark: { type: 'point', shape: 'diamond', size: 320, filled: true, stroke: 'black', strokeWidth: 1.5, opacity: 1 },
        encoding: { x, y, color },
      },
      {
        data: { values: templates },
        mark: { type: 'text', dy: -16, fontWeight: 'bold', fontSize: 11 },
        encoding: { x, y, text: { field: 'cls', type: 'nominal' } },
      },
    ],
  } as Spec;
}

/** The square domain that holds every panel's points and templates, with a margin: one scale for all. */
export function sharedDomain(panels: Array<Array<{ x: number; y: number }>>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const p of panels.flat()) {
    lo = Math.min(lo, p.x, p.y);
    hi = Math.max(hi, p.x, p.y);
  }
  if (!Number.isFinite(lo)) return [0, 1];
  const margin = (hi - lo) * 0.05 || 1;
  return [lo - margin, hi + margin];
}

/** One bar per setting, in its colour; rows with `sd` get an error bar (mean ± sd over seeds). */
export function barChart(title: string, rows: Array<{ setting: string; value: number; sd?: number }>, axis: string, colors?: ColorScale): Spec {
  const scale = colors ?? settingColors(rows.map((r) => r.setting));
  const values = rows.map((r) => ({ ...r, lo: r.value - (r.sd ?? 0), hi: r.value + (r.sd ?? 0) }));
  const x = { field: 'setting', type: 'nominal', title: 'label smoothing ε', sort: scale.domain, axis: { labelAngle: 0 } };
  return {
    ...base,
    title,
    width: 260,
    height: 200,
    data: { values },
    layer: [
      {
        mark: 'bar',
        encoding: { x, y: { field: 'value', type: 'quantitative', title: axis }, color: { field: 'setting', type: 'nominal', scale, legend: null } },
      },
      ...(rows.some((r) => r.sd !== undefined)
        ? [{ mark: { type: 'rule', strokeWidth: 1.5 }, encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } } }]
        : []),
    ],
  } as Spec;
}

/**
 * The LR range test's curve: the smoothed loss (and, faint, each step's own) against the rate on a
 * log axis, each suggested rate a dashed rule with its name. The y axis spans the smoothed curve's
 * descent (the divergence's last losses would flatten the rest); points beyond it are clipped.
 */
export function lrFindCurve(rows: Array<{ lr: number; loss: number; smoothed: number }>, marks: Array<{ lr: number; label: string }>): Spec {
  const smoothed = rows.map((r) => r.smoothed);
  // Up to the highest point before the minimum and a quarter more: the descent at full height, the divergence clipped.
  const lowest = smoothed.indexOf(Math.min(...smoothed));
  const lo = smoothed[lowest]!;
  const top = Math.max(...(lowest > 0 ? smoothed.slice(0, lowest) : smoothed));
  const hi = top + (top - lo) * 0.25 || lo + 1;
  const y = { type: 'quantitative', scale: { zero: false, domain: [lo, hi] }, title: 'training loss' };
  // Each name a line below the previous one: two suggestions close together stay readable.
  const labels = marks.map((m, k) => ({ ...m, at: hi - ((hi - lo) * k) / 12 }));
  const x = { field: 'lr', type: 'quantitative', scale: { type: 'log' }, axis: { format: '.0e' }, title: 'learning rate (log scale)' };
  return {
    ...base,
    title: 'Learning-rate range test',
    width: 420,
    height: 260,
    layer: [
      { data: { values: rows }, mark: { type: 'line', color: '#bbb', strokeWidth: 1, clip: true }, encoding: { x, y: { ...y, field: 'loss' } } },
      { data: { values: rows }, mark: { type: 'line', color: PALETTE[0], strokeWidth: 2, clip: true }, encoding: { x, y: { ...y, field: 'smoothed' } } },
      { data: { values: marks }, mark: { type: 'rule', color: PALETTE[3], strokeDash: [4, 3] }, encoding: { x } },
      {
        data: { values: labels },
        mark: { type: 'text', align: 'left', baseline: 'top', dx: 4, dy: 4, color: PALETTE[3], fontSize: 10 },
        encoding: { x, y: { ...y, field: 'at' }, text: { field: 'label' } },
      },
    ],
  } as Spec;
}

/**
 * A confusion matrix as a heatmap (fastai's plot_confusion_matrix): true class down, predicted
 * across, both in `classes`' order; each cell coloured by its share of the true class's images,
 * an empty one white (square-root scale, so that a few percent off the diagonal shows) and, up to 15 classes, labelled
 * with its count.
 */
export function confusionHeatmap(title: string, cells: Array<{ truth: string; predicted: string; count: number; rate: number }>, classes: string[]): Spec {
  const n = classes.length;
  const step = n <= 10 ? 26 : n <= 20 ? 20 : 15;
  const axis = (name: string) => ({ field: name, type: 'nominal', sort: classes, axis: { labelLimit: 110, labelFontSize: n > 20 ? 9 : 10 } });
  const x = { ...axis('predicted'), title: 'predicted', axis: { ...axis('predicted').axis, labelAngle: -45, orient: 'bottom' } };
  const y = { ...axis('truth'), title: 'true class' };
  return {
    ...base,
    title,
    width: { step },
    height: { step },
    data: { values: cells },
    layer: [
      {
        mark: { type: 'rect', stroke: 'white', strokeWidth: 0.5 },
        encoding: {
          x,
          y,
          // An empty cell white, whatever the scale's lowest colour.
          color: {
            condition: { test: 'datum.count === 0', value: 'white' },
            field: 'rate',
            type: 'quantitative',
            title: 'share of row',
            scale: { type: 'sqrt', domain: [0, 1], range: ['#eef4fb', '#08306b'] },
            legend: { format: '.0%', gradientLength: 120 },
          },
          tooltip: [{ field: 'truth' }, { field: 'predicted' }, { field: 'count' }, { field: 'rate', format: '.1%' }],
        },
      },
      ...(n <= 15
        ? [
            {
              transform: [{ filter: 'datum.count > 0' }],
              mark: { type: 'text', fontSize: n <= 10 ? 10 : 8 },
              encoding: {
                x,
                y,
                text: { field: 'count', type: 'quantitative' },
                color: { condition: { test: 'datum.rate > 0.4', value: 'white' }, value: '#222' },
              },
            },
          ]
        : []),
    ],
  } as Spec;
}

/** The most-confused (true → predicted) pairs as ranked bars, the most first (fastai's most_confused): for matrices too large to draw. */
export function confusedPairsChart(title: string, pairs: Array<{ truth: string; predicted: string; count: number }>, color = PALETTE[0]!): Spec {
  const values = pairs.map((p, rank) => ({ ...p, pair: `${p.truth} → ${p.predicted}`, rank }));
  const y = { field: 'pair', type: 'nominal', title: 'true → predicted', sort: { field: 'rank', order: 'ascending' }, axis: { labelLimit: 260 } };
  return {
    ...base,
    title,
    width: 260,
    height: { step: 16 },
    data: { values },
    layer: [
      {
        mark: { type: 'bar', color },
        encoding: { y, x: { field: 'count', type: 'quantitative', title: 'validation images', axis: { tickMinStep: 1, format: 'd' } } },
      },
      {
        mark: { type: 'text', align: 'left', dx: 3, fontSize: 9 },
        encoding: { y, x: { field: 'count', type: 'quantitative' }, text: { field: 'count', type: 'quantitative' } },
      },
    ],
  } as Spec;
}
