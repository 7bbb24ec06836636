// A report's figure written beside it: SVG and PNG (and, for compare's figures, the vega-lite
// spec) under `dir`/figures, and what the HTML report embeds.
import { join } from 'node:path';
import { writeFileAtomic } from '../io/index.js';
import { type Spec, render } from '../report/index.js';

/** A figure as writeReport embeds it: the SVG inline, the caption, the files linked. */
export interface WrittenFigure {
  svg: string;
  caption: string;
  files: string[];
}

/** Writes a figure as SVG and PNG (and its spec as NAME.vl.json unless `spec` is false) under `dir`/figures. */
export async function writeFigure(dir: string, name: string, spec: Spec, caption: string, o: { spec?: boolean } = {}): Promise<WrittenFigure> {
  const { svg, png } = await render(spec);
  writeFileAtomic(join(dir, 'figures', `${name}.svg`), svg);
  writeFileAtomic(join(dir, 'figures', `${name}.png`), png);
  if (o.spec !== false) writeFileAtomic(join(dir, 'figures', `${name}.vl.json`), JSON.stringify(spec));
  return { svg, caption, files: [`figures/${name}.svg`, `figures/${name}.png`] };
}
