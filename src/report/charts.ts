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
  const png = new Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, background: 'white', font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } })
    .render()
    .asPng();
  return { svg, png };
}

const base = { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', background: 'white' } as const;

/** Train and val accuracy per epoch, one colour per setting, dashed for train (the seed's figure). */
export function accuracyCurves(rows: Array<{ setting: string; epoch: number; split: 'train' | 'val'; accuracy: number }>): Spec {
  return {
    ...base,
    title: 'Accuracy per epoch',
    width: 420,
    height: 260,
    data: { values: rows },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', axis: { tickMinStep: 1 } },
      y: { field: 'accuracy', type: 'quantitative', scale: { zero: false }, axis: { format: '.0%' } },
      color: { field: 'setting', type: 'nominal', title: 'label smoothing' },
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
  } as Spec;
}

/** Reliability diagram: accuracy per confidence bin against the diagonal, bin counts as opacity. */
export function reliabilityDiagram(title: string, bins: Array<{ lo: number; hi: number; count: number; accuracy: number; confidence: number }>): Spec {
  const values = bins.map((b) => ({ ...b, mid: (b.lo + b.hi) / 2 }));
  return {
    ...base,
    title,
    width: 260,
    height: 260,
    layer: [
      {
        data: { values },
        mark: { type: 'bar', stroke: 'white' },
        encoding: {
          x: { field: 'lo', type: 'quantitative', scale: { domain: [0, 1] }, title: 'confidence' },
          x2: { field: 'hi' },
          y: { field: 'accuracy', type: 'quantitative', scale: { domain: [0, 1] }, title: 'accuracy' },
          opacity: { condition: { test: 'datum.count == 0', value: 0 }, value: 0.85 },
          tooltip: [{ field: 'count' }, { field: 'confidence', format: '.3f' }, { field: 'accuracy', format: '.3f' }],
        },
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
  } as Spec;
}

/** Penultimate activations projected on the plane of three templates (Müller et al. 2019, Fig. 1). */
export function projectionScatter(
  title: string,
  points: Array<{ x: number; y: number; cls: string }>,
  templates: Array<{ x: number; y: number; cls: string }>,
): Spec {
  return {
    ...base,
    title,
    width: 300,
    height: 300,
    layer: [
      {
        data: { values: points },
        mark: { type: 'circle', size: 12, opacity: 0.6 },
        encoding: {
          x: { field: 'x', type: 'quantitative' },
          y: { field: 'y', type: 'quantitative' },
          color: { field: 'cls', type: 'nominal', title: 'class' },
        },
      },
      {
        data: { values: templates },
        mark: { type: 'point', shape: 'cross', size: 200, strokeWidth: 3, color: 'black' },
        encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' } },
      },
    ],
  } as Spec;
}

/** One bar per setting. */
export function barChart(title: string, rows: Array<{ setting: string; value: number }>, axis: string): Spec {
  return {
    ...base,
    title,
    width: 260,
    height: 200,
    data: { values: rows },
    mark: 'bar',
    encoding: { x: { field: 'setting', type: 'nominal', title: 'label smoothing' }, y: { field: 'value', type: 'quantitative', title: axis } },
  } as Spec;
}
