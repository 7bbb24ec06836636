// A report's figure written beside it: SVG and PNG (and, for compare's figures, the vega-lite
// spec) under `dir`/figures, and what the HTML report embeds.
import { join } from 'node:path';
import { writeFileAtomic } from '../io/index.js';
import { type Spec, render, svgToPng } from '../report/index.js';

/** A figure as writeReport embeds it: the SVG inline, the caption, the files linked. */
export interface WrittenFigure {
  svg: string;
  caption: string;
  files: string[];
}

/** Writes a figure as SVG and PNG (and its spec as NAME.vl.json unless `spec` is false) under `dir`/figures. */
export async function writeFigure(dir: string, name: string, spec: Spec, caption: string, o: { spec?: boolean } = {}): Promise<WrittenFigure> {
  const { svg, png } = await render(spec);
  if (o.spec !== false) writeFileAtomic(join(dir, 'figures', `${name}.vl.json`), JSON.stringify(spec));
  return writeDrawn(dir, name, svg, png, caption);
}

/** Writes a figure drawn as SVG by hand (a gallery) under `dir`/figures, with its PNG. */
export function writeSvgFigure(dir: string, name: string, svg: string, caption: string): WrittenFigure {
  return writeDrawn(dir, name, svg, svgToPng(svg), caption);
}

function writeDrawn(dir: string, name: string, svg: string, png: Uint8Array, caption: string): WrittenFigure {
  writeFileAtomic(join(dir, 'figures', `${name}.svg`), svg);
  writeFileAtomic(join(dir, 'figures', `${name}.png`), png);
  return { svg, caption, files: [`figures/${name}.svg`, `figures/${name}.png`] };
}
