// A tensor's text as PyTorch's repr writes it (torch/_tensor_str.py): 4 decimals, integer-valued
// floats as "1.", scientific notation when the magnitudes span more than 10³ (or pass 10⁸, or
// fall below 10⁻⁴), columns right-aligned, 80-character lines, and the first and last 3 entries of
// each dimension once a tensor has more than 1000 elements.
const PRECISION = 4;
const THRESHOLD = 1000;
const EDGE = 3;
const LINE_WIDTH = 80;

export interface ReprInput {
  shape: number[];
  dtype: string;
  /** Row-major values (bool as 0/1). */
  values: ArrayLike<number>;
  device: string;
  requiresGrad: boolean;
  isLeaf: boolean;
  gradFn: string | null;
}

const FLOAT = new Set(['float32', 'float64', 'bfloat16', 'float16']);
/** PyTorch's {:.4e}: a two-digit, signed exponent. */
const sci = (v: number) => v.toExponential(PRECISION).replace(/e([+-])(\d)$/, 'e$10$2');

function formatter(values: number[], dtype: string): (v: number) => string {
  if (dtype === 'bool') return (v) => (v ? ' True' : 'False');
  if (!FLOAT.has(dtype)) {
    const width = Math.max(1, ...values.map((v) => String(v).length));
    return (v) => String(v).padStart(width);
  }
  const finite = values.filter((v) => Number.isFinite(v) && v !== 0);
  const special = (v: number) => (Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf');
  if (finite.length === 0) return (v) => (Number.isFinite(v) ? `${v.toFixed(0)}.` : special(v));
  const abs = finite.map(Math.abs);
  const lo = Math.min(...abs);
  const hi = Math.max(...abs);
  const intMode = finite.every((v) => Math.ceil(v) === v);
  const sciMode = hi / lo > 1000 || hi > 1e8 || (!intMode && lo < 1e-4);
  const body = sciMode ? sci : intMode ? (v: number) => `${v.toFixed(0)}.` : (v: number) => v.toFixed(PRECISION);
  const width = Math.max(1, ...finite.map((v) => body(v).length));
  return (v) => (Number.isFinite(v) ? body(v) : special(v)).padStart(width);
}

/** The values shown: all, or each dimension's first and last EDGE entries when summarising. */
function shown(values: ArrayLike<number>, shape: number[], summarize: boolean): number[] {
  const out: number[] = [];
  const walk = (dim: number, offset: number, stride: number) => {
    if (dim === shape.length) return void out.push(values[offset]!);
    const n = shape[dim]!;
    const inner = stride / n;
    const idx = summarize && n > 2 * EDGE ? [...Array(EDGE).keys(), ...Array.from({ length: EDGE }, (_, k) => n - EDGE + k)] : [...Array(n).keys()];
    for (const i of idx) walk(dim + 1, offset + i * inner, inner);
  };
  walk(
    0,
    0,
    shape.reduce((a, b) => a * b, 1),
  );
  return out;
}

export function tensorRepr(t: ReprInput): string {
  const numel = t.shape.reduce((a, b) => a * b, 1);
  const prefix = 'tensor(';
  const indent = prefix.length;
  const summarize = numel > THRESHOLD;
  let body: string;
  if (numel === 0) body = t.shape.length === 1 ? '[]' : `[], size=(${t.shape.join(', ')}${t.shape.length === 1 ? ',' : ''})`;
  else {
    const fmt = formatter(shown(t.values, t.shape, summarize), t.dtype);
    const width = fmt(t.values[0]!).length;
    const rec = (dim: number, offset: number, stride: number, ind: number): string => {
      if (t.shape.length === 0) return fmt(t.values[0]!);
      const n = t.shape[dim]!;
      const inner = stride / n;
      const cut = summarize && n > 2 * EDGE;
      const idx = cut ? [...Array(EDGE).keys(), -1, ...Array.from({ length: EDGE }, (_, k) => n - EDGE + k)] : [...Array(n).keys()];
      if (dim === t.shape.length - 1) {
        const items = idx.map((i) => (i < 0 ? ' ...' : fmt(t.values[offset + i]!)));
        const perLine = Math.max(1, Math.floor((LINE_WIDTH - ind) / (width + 2)));
        const lines: string[] = [];
        for (let k = 0; k < items.length; k += perLine) lines.push(items.slice(k, k + perLine).join(', '));
        return `[${lines.join(`,\n${' '.repeat(ind + 1)}`)}]`;
      }
      const parts = idx.map((i) => (i < 0 ? '...' : rec(dim + 1, offset + i * inner, inner, ind + 1)));
      return `[${parts.join(`,${'\n'.repeat(t.shape.length - dim - 1)}${' '.repeat(ind + 1)}`)}]`;
    };
    body = rec(0, 0, numel, indent);
  }
  const suffixes: string[] = [];
  if (t.device !== 'cpu') suffixes.push(`device='${t.device}'`);
  if (!['float32', 'int64', 'bool'].includes(t.dtype)) suffixes.push(`dtype=torch.${t.dtype}`);
  if (t.gradFn && !t.isLeaf) suffixes.push(`grad_fn=<${t.gradFn}>`);
  else if (t.requiresGrad) suffixes.push('requires_grad=True');
  let out = prefix + body;
  let lastLine = out.length - out.lastIndexOf('\n') - 1;
  for (const s of suffixes) {
    if (lastLine + s.length + 2 > LINE_WIDTH) {
      out += `,\n${' '.repeat(indent)}${s}`;
      lastLine = indent + s.length;
    } else {
      out += `, ${s}`;
      lastLine += s.length + 2;
    }
  }
  return `${out})`;
}
