// A gallery of images as one SVG figure: a grid of tiles, each a thumbnail (a data: URI, so that
// the report stays one file) with a few lines of text beside it. Drawn by hand rather than by
// vega-lite: the tiles are pictures with captions, not marks on scales. resvg renders it to PNG as
// it renders the charts.

/** A line of a tile's text. */
export interface GalleryLine {
  text: string;
  /** Its colour (default dark grey). */
  color?: string;
  bold?: boolean;
}

/** One image of a gallery. */
export interface GalleryTile {
  /** The thumbnail as a data: URI (or any href), drawn at `width` × `height`; null draws an empty frame. */
  href: string | null;
  width: number;
  height: number;
  /** The text beside the thumbnail, top to bottom. */
  lines: GalleryLine[];
  /** The thumbnail's frame colour (default grey). */
  frame?: string;
}

export interface GalleryOptions {
  /** Tiles per row (default 4). */
  columns?: number;
  /** A tile's width in pixels, thumbnail and text (default 260). */
  tileWidth?: number;
  /** The thumbnails' box: the tallest and widest one drawn (default: the largest tile's). */
  thumbnail?: number;
}

const FONT = 'DejaVu Sans, system-ui, sans-serif';
const LINE = 14;
const FONT_SIZE = 11;
const PAD = 8;

const escapeXml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** `text` cut to about `room` pixels at the gallery's font size, with an ellipsis. */
function fit(text: string, room: number, bold: boolean): string {
  const chars = Math.max(4, Math.floor(room / (FONT_SIZE * (bold ? 0.62 : 0.57))));
  return text.length <= chars ? text : `${text.slice(0, chars - 1)}…`;
}

/** The gallery as an SVG document: `title` above a grid of `tiles`. */
export function gallerySvg(title: string, tiles: readonly GalleryTile[], o: GalleryOptions = {}): string {
  const columns = Math.max(1, Math.min(o.columns ?? 4, tiles.length || 1));
  const tileWidth = o.tileWidth ?? 260;
  const thumb = o.thumbnail ?? Math.max(1, ...tiles.map((t) => Math.max(t.width, t.height)));
  const lines = Math.max(0, ...tiles.map((t) => t.lines.length));
  const tileHeight = Math.max(thumb, lines * LINE) + 2 * PAD;
  const rows = Math.ceil(tiles.length / columns);
  const top = 26;
  const width = columns * tileWidth;
  const height = top + rows * tileHeight;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${FONT}" font-size="${FONT_SIZE}">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="2" y="17" font-size="13" font-weight="bold" fill="#222">${escapeXml(title)}</text>`,
  ];
  for (const [i, t] of tiles.entries()) {
    const x = (i % columns) * tileWidth + PAD;
    const y = top + Math.floor(i / columns) * tileHeight + PAD;
    // The thumbnail centred in its box, framed.
    const ix = x + (thumb - t.width) / 2;
    const iy = y + (thumb - t.height) / 2;
    parts.push(`<g>`);
    if (t.href) parts.push(`<image x="${ix}" y="${iy}" width="${t.width}" height="${t.height}" xlink:href="${escapeXml(t.href)}" preserveAspectRatio="none"/>`);
    parts.push(
      `<rect x="${ix - 1}" y="${iy - 1}" width="${t.width + 2}" height="${t.height + 2}" fill="none" stroke="${t.frame ?? '#999'}" stroke-width="2"/>`,
    );
    const tx = x + thumb + PAD;
    const room = tileWidth - thumb - 3 * PAD;
    for (const [k, line] of t.lines.entries())
      parts.push(
        `<text x="${tx}" y="${y + 11 + k * LINE}" fill="${line.color ?? '#333'}"${line.bold ? ' font-weight="bold"' : ''}>${escapeXml(fit(line.text, room, line.bold === true))}</text>`,
      );
    parts.push(`</g>`);
  }
  parts.push('</svg>');
  return parts.join('\n');
}
