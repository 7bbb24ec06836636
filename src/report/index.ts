// The report layer: figures (vega-lite → SVG, PNG) and self-contained HTML. Imports io.
export * from './charts.js';
export * from './html.js';
