// A self-contained HTML report: inline SVG figures (no network, no scripts), tables, notes.
import { writeFileAtomic } from '../io/index.js';

export interface Section {
  heading: string;
  /** Paragraphs of text (escaped). */
  text?: string[];
  /** Tables: header row then rows (escaped). */
  tables?: Array<{ header: string[]; rows: Array<Array<string | number>> }>;
  /** Figures: inline SVG markup and the file names of their SVG and PNG copies. */
  figures?: Array<{ svg: string; caption: string; files: string[] }>;
}

const escapeHtml = (s: string | number) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

export function reportHtml(title: string, sections: Section[]): string {
  const body = sections
    .map((s) => {
      const text = (s.text ?? []).map((p) => `<p>${escapeHtml(p)}</p>`).join('\n');
      const tables = (s.tables ?? [])
        .map(
          (t) =>
            `<table><thead><tr>${t.header.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${t.rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`,
        )
        .join('\n');
      const figures = (s.figures ?? [])
        .map(
          (f) =>
            `<figure>${f.svg}<figcaption>${escapeHtml(f.caption)} (${f.files.map((n) => `<a href="${escapeHtml(n)}">${escapeHtml(n.split('/').pop()!)}</a>`).join(', ')})</figcaption></figure>`,
        )
        .join('\n');
      return `<section><h2>${escapeHtml(s.heading)}</h2>\n${text}\n${tables}\n<div class="figures">${figures}</div></section>`;
    })
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; } th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
.figures { display: flex; flex-wrap: wrap; gap: 1.5em; } figure { margin: 0; } figcaption { font-size: 0.85em; color: #555; }
</style></head><body>
<h1>${escapeHtml(title)}</h1>
${body}
</body></html>
`;
}

export function writeReport(path: string, title: string, sections: Section[]): void {
  writeFileAtomic(path, reportHtml(title, sections));
}
