// Where images come from: the classify-leaves CSV layout, an image folder per class, and IDX files
// (MNIST, Fashion-MNIST). Each sample names its origin (file and CSV row) for error messages.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ClassVocabulary, byCodePoint } from './vocab.js';

/** An encoded image file, or raw pixels (HWC, uint8). */
export type ImageSource = { kind: 'file'; path: string } | { kind: 'raw'; pixels: Uint8Array; width: number; height: number; channels: number };

export interface Sample {
  source: ImageSource;
  /** Class index, or −1 for an unlabeled (test) image. */
  label: number;
  /** The file and CSV row, or the IDX file and index: named in every error about this sample. */
  where: string;
  /** The image's name as the CSV wrote it (for submissions). */
  name: string;
}

export interface Dataset {
  readonly length: number;
  readonly vocab: ClassVocabulary;
  sample(i: number): Sample;
}

/** A dataset over a list of samples. */
export class SampleList implements Dataset {
  constructor(
    readonly samples: readonly Sample[],
    readonly vocab: ClassVocabulary,
  ) {}
  get length(): number {
    return this.samples.length;
  }
  sample(i: number): Sample {
    const s = this.samples[i];
    if (!s) throw new RangeError(`dataset: no sample ${i} (have ${this.samples.length})`);
    return s;
  }
  /** The subset at the given indices (for splits). */
  subset(indices: readonly number[]): SampleList {
    return new SampleList(
      indices.map((i) => this.sample(i)),
      this.vocab,
    );
  }
  labels(): number[] {
    return this.samples.map((s) => s.label);
  }
}

// ---- CSV (classify-leaves) ----

/** RFC 4180 fields: commas, double quotes, "" inside quotes. Returns rows of fields. */
export function parseCsv(text: string, source: string): string[][] {
  const rows: string[][] = [];
  let field = '';
  let row: string[] = [];
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === '') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (quoted) throw new Error(`${source}: unterminated quoted field at the end of the file`);
  if (field !== '' || row.length) rows.push([...row, field]);
  return rows.filter((r) => !(r.length === 1 && r[0] === ''));
}

export interface CsvOptions {
  /** Labeled (train.csv: image,label) or unlabeled (test.csv: image). */
  labeled: boolean;
  /** The vocabulary to map labels with (predict/eval); by default built from this file's labels. */
  vocab?: ClassVocabulary;
  /** Unreadable images are dropped at load time instead of stopping the run. */
  skipMissing?: boolean;
  /** Read image paths that lead outside the CSV's folder (../, absolute); refused by default. */
  allowOutside?: boolean;
}

/**
 * Kaggle's classify-leaves layout: a CSV with header `image,label` (train) or `image` (test),
 * image paths relative to the CSV's folder. Missing files, duplicates and malformed rows are
 * errors naming the CSV row (the header is row 1).
 */
export function readImageCsv(csvPath: string, o: CsvOptions): { dataset: SampleList; missing: string[] } {
  const source = csvPath;
  if (!existsSync(csvPath)) throw new Error(`${source}: no such file`);
  if (statSync(csvPath).isDirectory())
    throw new Error(`${source} is a folder, not a CSV file (a header 'image${o.labeled ? ',label' : ''}', then a row per image)`);
  const rows = parseCsv(readFileSync(csvPath, 'utf8').replace(/^\uFEFF/, ''), source);
  if (rows.length === 0) throw new Error(`${source}: the CSV is empty (expected a header '${o.labeled ? 'image,label' : 'image'}')`);
  const header = rows[0]!.map((h) => h.trim());
  const imageCol = header.indexOf('image');
  const labelCol = header.indexOf('label');
  if (imageCol < 0) throw new Error(`${source}: row 1 is not the expected header '${o.labeled ? 'image,label' : 'image'}' (found '${rows[0]!.join(',')}')`);
  if (o.labeled && labelCol < 0) throw new Error(`${source}: the header has no 'label' column (found '${rows[0]!.join(',')}'): is this test.csv?`);
  if (!o.labeled && labelCol >= 0) throw new Error(`${source}: the header has a 'label' column: this looks like the training CSV, not the test CSV`);
  if (rows.length === 1) throw new Error(`${source}: the CSV has a header but no rows`);

  const root = dirname(resolve(csvPath));
  const firstRow = new Map<string, number>();
  const entries: Array<{ name: string; label: string; where: string; path: string }> = [];
  const missing: string[] = [];
  for (let r = 1; r < rows.length; r++) {
    const fields = rows[r]!;
    const where = `${basename(csvPath)} row ${r + 1}`;
    if (fields.length !== header.length) throw new Error(`${source}: row ${r + 1} has ${fields.length} fields, the header has ${header.length}`);
    const name = fields[imageCol]!.trim();
    if (name === '') throw new Error(`${source}: row ${r + 1} has an empty image path`);
    const path = resolve(root, name);
    // The same file under two spellings (./images/0.png, images/0.png) is one image.
    const key = relative(root, path);
    if ((key === '..' || key.startsWith(`..${sep}`) || isAbsolute(key)) && !o.allowOutside)
      throw new Error(`${source}: row ${r + 1}: image '${name}' is outside the dataset's folder ${root} (allowOutside, or --allow-outside-paths, reads it)`);
    const seen = firstRow.get(key);
    if (seen !== undefined) throw new Error(`${source}: image '${name}' appears twice, rows ${seen} and ${r + 1}`);
    firstRow.set(key, r + 1);
    const label = o.labeled ? fields[labelCol]!.trim() : '';
    if (o.labeled && label === '') throw new Error(`${source}: row ${r + 1} has an empty label`);
    entries.push({ name, label, where: `${path} (${where})`, path });
  }
  // The files are looked at once the whole CSV is known to be well formed.
  const present = entries.filter((e) => {
    if (existsSync(e.path)) return true;
    const message = `${e.where}: the image file does not exist`;
    if (!o.skipMissing) throw new Error(message);
    missing.push(message);
    return false;
  });
  const vocab = o.vocab ?? ClassVocabulary.fromLabels(entries.map((e) => e.label).filter((l) => l !== ''));
  const samples = present.map((e) => ({
    source: { kind: 'file' as const, path: e.path },
    label: o.labeled ? vocab.index(e.label, e.where) : -1,
    where: e.where,
    name: e.name,
  }));
  return { dataset: new SampleList(samples, vocab), missing };
}

// ---- image folders ----

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif', '.bmp']);

/** torchvision's ImageFolder: root/CLASS/IMAGE, classes sorted by name, files sorted within each. */
export function readImageFolder(root: string, o: { vocab?: ClassVocabulary } = {}): SampleList {
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new Error(`${root}: not a folder`);
  const classes = readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort(byCodePoint);
  if (classes.length === 0) throw new Error(`${root}: no class folders (expected ${root}/CLASS/IMAGE files)`);
  const vocab = o.vocab ?? new ClassVocabulary(classes);
  const samples: Sample[] = [];
  for (const c of classes) {
    const files = readdirSync(join(root, c))
      .filter((f) => IMAGE_EXTENSIONS.has(extname(f).toLowerCase()))
      .sort(byCodePoint);
    for (const f of files) {
      const path = join(root, c, f);
      samples.push({ source: { kind: 'file', path }, label: vocab.index(c, path), where: path, name: `${c}/${f}` });
    }
  }
  if (samples.length === 0) throw new Error(`${root}: the class folders hold no images`);
  return new SampleList(samples, vocab);
}

// ---- IDX (MNIST family) ----

/** An IDX file (gzipped or not): unsigned-byte data with its dimensions. */
export function readIdx(path: string): { dims: number[]; data: Uint8Array } {
  if (!existsSync(path)) throw new Error(`${path}: no such file`);
  let bytes: Uint8Array = readFileSync(path);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw new Error(`${path}: corrupt gzip data (${(e as Error).message})`);
    }
  }
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) throw new Error(`${path}: not an IDX file (bad magic)`);
  if (bytes[2] !== 0x08) throw new Error(`${path}: IDX data type 0x${bytes[2]!.toString(16)} is not unsigned bytes`);
  const rank = bytes[3]!;
  if (bytes.length < 4 + 4 * rank) throw new Error(`${path}: truncated IDX header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i, false));
  const size = dims.reduce((a, b) => a * b, 1);
  const start = 4 + 4 * rank;
  if (bytes.length - start !== size) throw new Error(`${path}: IDX dimensions [${dims}] need ${size} bytes of data, the file has ${bytes.length - start}`);
  return { dims, data: bytes.subarray(start) };
}

export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
const FASHION_MNIST_DIRS = ['/usr/share/datasets/fashion-mnist'];

/** Images and labels from a pair of IDX files (class names in index order). */
export function readIdxPair(imagesPath: string, labelsPath: string, classNames: string[]): SampleList {
  const images = readIdx(imagesPath);
  const labels = readIdx(labelsPath);
  if (images.dims.length !== 3) throw new Error(`${imagesPath}: expected images of dimensions [count, rows, cols], got [${images.dims}]`);
  const [count, height, width] = images.dims as [number, number, number];
  if (labels.dims.length !== 1 || labels.dims[0] !== count) throw new Error(`${labelsPath}: ${labels.dims[0]} labels for ${count} images in ${imagesPath}`);
  const vocab = new ClassVocabulary(classNames);
  const samples: Sample[] = [];
  for (let i = 0; i < count; i++) {
    const label = labels.data[i]!;
    if (label >= classNames.length) throw new Error(`${labelsPath}: label ${label} at index ${i} is not one of the ${classNames.length} classes`);
    samples.push({
      source: { kind: 'raw', pixels: images.data.subarray(i * height * width, (i + 1) * height * width), width, height, channels: 1 },
      label,
      where: `${imagesPath} image ${i}`,
      name: String(i),
    });
  }
  return new SampleList(samples, vocab);
}

/** Fashion-MNIST from `dir` or where Debian's dataset-fashion-mnist installs it. */
export function fashionMnist(split: 'train' | 't10k', dir?: string): SampleList {
  const found = dir ?? FASHION_MNIST_DIRS.find((d) => existsSync(join(d, `${split}-images-idx3-ubyte.gz`)));
  if (!found) throw new Error(`fashion-mnist: not found in ${FASHION_MNIST_DIRS.join(', ')} (install it: apt-get install dataset-fashion-mnist)`);
  const file = (kind: string) => {
    const gz = join(found, `${split}-${kind}.gz`);
    return existsSync(gz) ? gz : join(found, `${split}-${kind}`);
  };
  return readIdxPair(file('images-idx3-ubyte'), file('labels-idx1-ubyte'), FASHION_MNIST_CLASSES);
}
