// The report layer: figures (vega-lite → SVG, PNG), image galleries (SVG), self-contained HTML, and a headless-Chromium
// check and screenshot of a report (browser.ts: node: modules only). Imports io.
export * from './browser.js';
export * from './charts.js';
export * from './gallery.js';
export * from './html.js';
