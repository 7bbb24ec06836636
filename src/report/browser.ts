// A real browser's view of a report: headless Chromium lays the page out, and we read back what it
// drew (each figure's size and its visible marks) or a screenshot of the whole page. No puppeteer:
// a copy of the report with one injected <script> writes its measurements into the DOM, and
// `chromium --dump-dom` prints that DOM. The report itself stays script-free.
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, delimiter, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** What the browser laid out for one `<figure>`. */
export interface FigureLayout {
  /** Position among the page's `<figure>` elements, from 0. */
  index: number;
  /** The figcaption's text, whitespace collapsed ('' when there is none). */
  caption: string;
  /** The figure's `<svg>` as rendered (getBoundingClientRect), CSS pixels; 0 without an svg. */
  width: number;
  height: number;
  /** Drawn marks: `path`, `rect`, `circle`, `ellipse`, `line`, `polyline`, `polygon`, `text` and `image` elements inside the svg whose bounding box is not empty. */
  marks: number;
  /** The same, per element name. */
  marksByTag: Record<string, number>;
}

/** A figure the browser could not show: no svg, an svg of zero size, or one with nothing drawn. */
export interface FigureProblem {
  index: number;
  caption: string;
  problem: string;
}

export interface ReportLayout {
  /** The inspected file (absolute). */
  file: string;
  /** document.title. */
  title: string;
  /** How many `<figure>` elements the page has. */
  figureCount: number;
  figures: FigureLayout[];
  /** The figures whose svg is missing or empty (also listed in `figures`). */
  problems: FigureProblem[];
  /** The laid-out page's size at the window width used, CSS pixels. */
  scrollWidth: number;
  scrollHeight: number;
  /** The window the page was laid out in. */
  window: { width: number; height: number };
}

export interface BrowserOptions {
  /** The Chromium executable; findChromium() when not given. */
  chromium?: string;
  /** Window width in CSS pixels (default 1200). */
  width?: number;
  /** Window height in CSS pixels (default 900; screenshots: the page's height, see screenshotReport). */
  height?: number;
  /** Kill Chromium after this long (default 60,000 ms). */
  timeoutMs?: number;
}

export interface ScreenshotOptions extends BrowserOptions {
  /** Device pixels per CSS pixel (default 1). */
  scale?: number;
  /** The tallest screenshot, CSS pixels (default 8000). */
  maxHeight?: number;
}

export interface Screenshot {
  /** The PNG written. */
  path: string;
  /** Its window in CSS pixels (the image is scale times larger). */
  width: number;
  height: number;
  /** The layout it was sized from. */
  layout: ReportLayout;
}

const CANDIDATES = ['chromium', 'chromium-browser', 'google-chrome'];

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && executable(join(dir, name))) return join(dir, name);
  }
  return null;
}

/**
 * The Chromium to run: `LSR_CHROMIUM` when set (a path, or a name looked up on PATH; when it names
 * nothing executable, Chromium counts as absent), else `chromium`, `chromium-browser` or
 * `google-chrome` on PATH; null when there is none.
 */
export function findChromium(): string | null {
  const forced = process.env.LSR_CHROMIUM;
  if (forced) {
    if (forced.includes('/')) return executable(forced) ? resolve(forced) : null;
    return onPath(forced);
  }
  for (const name of CANDIDATES) {
    const found = onPath(name);
    if (found) return found;
  }
  return null;
}

function chromiumOrThrow(o: BrowserOptions, file: string): string {
  const chromium = o.chromium ?? findChromium();
  if (!chromium) {
    throw new Error(`${file}: no Chromium to open it with (install it: apt-get install chromium; or set LSR_CHROMIUM to its path)`);
  }
  return chromium;
}

// Headless, as root (no sandbox), without a GPU, a profile of its own, nothing from the network.
function baseArgs(profile: string, width: number, height: number): string[] {
  return [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-dev-shm-usage',
    '--no-first-run',
    '--no-default-browser-check',
    '--disable-extensions',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--mute-audio',
    '--hide-scrollbars',
    `--user-data-dir=${profile}`,
    `--window-size=${width},${height}`,
  ];
}

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs Chromium in a process group of its own, so that a timeout ends its helper processes too. */
function runChromium(chromium: string, args: string[], timeoutMs: number, file: string): Promise<Ran> {
  return new Promise((done, fail) => {
    const child = spawn(chromium, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    let timedOut = false;
    const killGroup = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      fail(new Error(`${file}: could not start Chromium (${chromium}): ${e.message}`, { cause: e }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      // Helpers that outlived the browser process (they should not) go with it.
      killGroup();
      const stderr = Buffer.concat(err).toString('utf8');
      if (timedOut) {
        fail(new Error(`${file}: Chromium (${chromium}) did not finish within ${timeoutMs} ms and was killed${tail(stderr)}`));
        return;
      }
      done({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr });
    });
  });
}

/** The last lines of Chromium's stderr that say something (it logs harmless dbus noise). */
function tail(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/dbus|unexpected operator|Fontconfig|sandbox_linux|gpu_init|viz_main|command_buffer|gl_/i.test(l));
  return lines.length ? `:\n  ${lines.slice(-6).join('\n  ')}` : '';
}

function failed(file: string, chromium: string, r: Ran, what: string): Error {
  const how = r.signal ? `killed by ${r.signal}` : `exit code ${r.code}`;
  return new Error(`${file}: Chromium (${chromium}) failed to ${what} (${how})${tail(r.stderr)}`);
}

function withTempDir<T>(prefix: string, f: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return f(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

function readReport(htmlPath: string): { file: string; html: string } {
  const file = resolve(htmlPath);
  if (!existsSync(file)) throw new Error(`${file}: no such report`);
  return { file, html: readFileSync(file, 'utf8') };
}

// Runs in the page. Plain ES2017 source; its JSON is written with every character outside
// printable ASCII (and <, >, &) as a \u escape, so that the serialised DOM holds it verbatim.
const PROBE = `(() => {
  const MARKS = 'path,rect,circle,ellipse,line,polyline,polygon,text,image';
  const norm = (s) => (s || '').replace(/\\s+/g, ' ').trim();
  const figures = [];
  const problems = [];
  document.querySelectorAll('figure').forEach((fig, index) => {
    const cap = fig.querySelector('figcaption');
    const caption = norm(cap ? cap.textContent : '');
    const svg = fig.querySelector('svg');
    if (!svg) {
      figures.push({ index, caption, width: 0, height: 0, marks: 0, marksByTag: {} });
      problems.push({ index, caption, problem: 'no <svg>' });
      return;
    }
    const r = svg.getBoundingClientRect();
    const marksByTag = {};
    let marks = 0;
    svg.querySelectorAll(MARKS).forEach((el) => {
      const b = el.getBoundingClientRect();
      if (b.width > 0 || b.height > 0) {
        const tag = el.tagName.toLowerCase();
        marksByTag[tag] = (marksByTag[tag] || 0) + 1;
        marks++;
      }
    });
    const width = Math.round(r.width * 100) / 100;
    const height = Math.round(r.height * 100) / 100;
    figures.push({ index, caption, width, height, marks, marksByTag });
    if (!(width > 0 && height > 0)) problems.push({ index, caption, problem: 'svg of size ' + width + 'x' + height });
    else if (marks === 0) problems.push({ index, caption, problem: 'svg with nothing drawn' });
  });
  const root = document.documentElement;
  const result = {
    title: document.title,
    figureCount: figures.length,
    figures,
    problems,
    scrollWidth: Math.max(root.scrollWidth, document.body ? document.body.scrollWidth : 0),
    scrollHeight: Math.max(root.scrollHeight, document.body ? document.body.scrollHeight : 0),
  };
  const json = JSON.stringify(result).replace(/[^\\x20-\\x7e]|[<>&]/g, (c) => '\\\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
  const pre = document.createElement('pre');
  pre.id = 'lsr-inspect';
  pre.style.display = 'none';
  pre.textContent = json;
  document.body.appendChild(pre);
})();`;

/** The report with a <base> (relative links still resolve) and the probe at the end of its body. */
function instrument(html: string, file: string): string {
  const base = `<base href="${pathToFileURL(`${dirname(file)}/`).href}">`;
  const script = `<script>${PROBE}</script>`;
  let out = /<base\s/i.test(html) ? html : /<head[^>]*>/i.test(html) ? html.replace(/<head[^>]*>/i, (h) => h + base) : base + html;
  const end = out.toLowerCase().lastIndexOf('</body>');
  out = end >= 0 ? out.slice(0, end) + script + out.slice(end) : out + script;
  return out;
}

const decodeEntities = (s: string) =>
  s.replace(/&(lt|gt|amp|quot|nbsp|#\d+|#x[0-9a-f]+);/gi, (m, e: string) => {
    const named: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', nbsp: '\u00a0' };
    const k = e.toLowerCase();
    if (k in named) return named[k]!;
    const code = k.startsWith('#x') ? Number.parseInt(k.slice(2), 16) : Number.parseInt(k.slice(1), 10);
    return Number.isFinite(code) ? String.fromCodePoint(code) : m;
  });

/**
 * Opens the report in headless Chromium and returns what the browser laid out: for each
 * `<figure>`, its caption, its svg's rendered size and its count of drawn marks, plus the figures
 * whose svg is missing or empty. Throws, naming the file, when there is no Chromium, when it fails
 * or when it runs past `timeoutMs`.
 */
export async function inspectReport(htmlPath: string, o: BrowserOptions = {}): Promise<ReportLayout> {
  const { file, html } = readReport(htmlPath);
  const chromium = chromiumOrThrow(o, file);
  const width = o.width ?? 1200;
  const height = o.height ?? 900;
  return withTempDir('lsr-inspect-', async (dir) => {
    const copy = join(dir, `${basename(file).replace(/\.html?$/i, '')}.inspect.html`);
    writeFileSync(copy, instrument(html, file));
    const r = await runChromium(
      chromium,
      [...baseArgs(join(dir, 'profile'), width, height), '--dump-dom', pathToFileURL(copy).href],
      o.timeoutMs ?? 60_000,
      file,
    );
    const m = /<pre id="lsr-inspect"[^>]*>([^<]*)<\/pre>/.exec(r.stdout);
    if (!m) {
      if (r.code !== 0) throw failed(file, chromium, r, 'load it');
      throw new Error(
        `${file}: Chromium (${chromium}) loaded it but the inspection script left no result (did the page load? ${r.stdout.length} bytes of DOM)${tail(r.stderr)}`,
      );
    }
    const got = JSON.parse(decodeEntities(m[1]!)) as Omit<ReportLayout, 'file' | 'window'>;
    return { file, ...got, window: { width, height } };
  });
}

/**
 * Writes a PNG of the whole report as headless Chromium draws it, `width` CSS pixels wide (default
 * 1200) and as tall as the page (measured with inspectReport at that width) up to `maxHeight`,
 * unless `height` is given. The PNG is written under a temporary name and renamed into place.
 */
export async function screenshotReport(htmlPath: string, pngPath: string, o: ScreenshotOptions = {}): Promise<Screenshot> {
  const { file } = readReport(htmlPath);
  const chromium = chromiumOrThrow(o, file);
  const width = o.width ?? 1200;
  const layout = await inspectReport(file, { ...o, chromium, width });
  const height = Math.max(1, Math.min(o.height ?? Math.ceil(layout.scrollHeight), o.maxHeight ?? 8000));
  const target = resolve(pngPath);
  if (!existsSync(dirname(target))) throw new Error(`${target}: its folder does not exist`);
  // Chromium picks the format from the extension: the temporary name ends in .png.
  const tmp = join(dirname(target), `.${basename(target)}.${process.pid}.tmp.png`);
  try {
    await withTempDir('lsr-shot-', async (dir) => {
      const args = [...baseArgs(join(dir, 'profile'), width, height), `--screenshot=${tmp}`];
      if (o.scale !== undefined && o.scale !== 1) args.push(`--force-device-scale-factor=${o.scale}`);
      const r = await runChromium(chromium, [...args, pathToFileURL(file).href], o.timeoutMs ?? 60_000, file);
      if (r.code !== 0 || !existsSync(tmp)) throw failed(file, chromium, r, `screenshot it to ${target}`);
    });
    const sig = readFileSync(tmp).subarray(0, 8);
    if (!sig.equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) {
      throw new Error(`${file}: Chromium (${chromium}) wrote a screenshot that is not a PNG`);
    }
    renameSync(tmp, target);
  } finally {
    rmSync(tmp, { force: true });
  }
  return { path: target, width, height, layout };
}
