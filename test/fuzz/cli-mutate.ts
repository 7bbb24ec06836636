// The CLI fuzzer's cases (test/fuzz/cli.ts): seeded, reproducible mutations of a trained run's
// folder (config.json, recipe.json, vocab.json, metrics.jsonl, rarely a checkpoint) and of a
// command line (`lsr predict`, `lsr eval`, `lsr train --resume`). Each case is a function of
// (seed, index) and the untouched run's files alone, so `--only cli:123` rebuilds it exactly.
//
// Every path in a case is relative to the case's folder, which holds a copy of the data (data/:
// train.csv, test.csv, images/) and of the run (run/): `cd CASE && node main.js ARGS` reproduces it.
import { Rng } from './mutate.js';

export type Command = 'predict' | 'eval' | 'resume';
export const COMMAND_NAMES: Command[] = ['predict', 'eval', 'resume'];

/** A file of the case's folder replaced (bytes), deleted (null) or made a folder ('dir'). */
export interface FileEdit {
  name: string;
  content: Buffer | null | 'dir';
}

/** Which untouched run's output a case's output is compared with. */
export interface BaselineKey {
  checkpoint: 'best' | 'last';
  tta: boolean;
  /** predict: the test CSV; eval: 'val' or the labelled data given. */
  data: string;
}

export interface CliCase {
  index: number;
  command: Command;
  edits: FileEdit[];
  /** The arguments after `node dist/src/cli/main.js`. */
  args: string[];
  what: string[];
  /**
   * Why exit 0 may legitimately give labels (predict) or metrics (eval) unlike the untouched
   * run's, or null: then they must be the same, or the command must fail.
   */
  mayDiffer: string | null;
  /** The untouched output to compare with; null: none is comparable (other data, say). */
  baseline: BaselineKey | null;
  /** predict: the submission file to read on exit 0 (relative to the case folder); null: none to read. */
  outFile: string | null;
  /** resume: the epochs asked, when a clean integer (metrics.jsonl's last epoch must then be it). */
  epochs: number | null;
}

/** The untouched run: its files (by name in the case folder) and how it was trained. */
export interface BaseRun {
  files: Record<string, Buffer>;
  /** `lsr train` arguments that made it (without --epochs). */
  trainArgs: string[];
  epochs: number;
}

export const RUN_FILES = ['run/config.json', 'run/recipe.json', 'run/vocab.json', 'run/metrics.jsonl'];

// ---------------------------------------------------------------------------------------------
// JSON values: every place in a document, and changes to one.

type Path = Array<string | number>;
type Json = unknown;

/** Raw JSON text in place of a value (NaN and Infinity are not JSON; 1e999 parses to Infinity). */
const RAW = '@@raw:';
const raw = (text: string) => `${RAW}${text}`;

function places(v: Json, at: Path = [], out: Path[] = []): Path[] {
  out.push(at);
  if (Array.isArray(v)) for (const [i, x] of v.entries()) places(x, [...at, i], out);
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) places(x, [...at, k], out);
  return out;
}

function getAt(v: Json, at: Path): Json {
  let x = v;
  for (const k of at) x = (x as Record<string | number, Json>)[k];
  return x;
}

/** `root` with the value at `at` replaced (undefined: removed from its object or array). */
function setAt(root: Json, at: Path, value: Json): Json {
  if (at.length === 0) return value;
  const copy = structuredClone(root);
  const parent = getAt(copy, at.slice(0, -1)) as Record<string | number, Json>;
  const key = at[at.length - 1]!;
  if (value === undefined) {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key];
  } else parent[key] = value;
  return copy;
}

/** A value as the case's description shows it (raw JSON text as itself). */
function shown(v: Json): string {
  return (typeof v === 'string' && v.startsWith(RAW) ? v.slice(RAW.length) : (JSON.stringify(v) ?? String(v))).slice(0, 24);
}

function stringify(v: Json, rng: Rng): string {
  const text = rng.chance(0.5) ? JSON.stringify(v, null, 2) : JSON.stringify(v);
  return `${(text ?? 'undefined').replace(new RegExp(`"${RAW}([^"]*)"`, 'g'), '$1')}\n`;
}

const NUMBERS: Json[] = [0, -0, -1, 1, 0.5, 2 ** 53 + 2, 1e30, -1e30, 1e-30, 1e308, raw('1e999'), raw('-1e999'), raw('NaN'), raw('Infinity'), raw('1e'), 'x'];
const STRINGS: Json[] = ['', ' ', 'x', 'auto', 'ä', 'x'.repeat(10_000), '../../../etc/passwd', '/dev/zero', '\u0000', 'NaN', '1e30', '-1'];
const ANY: Json[] = [null, true, false, [], {}, 0, '', raw('NaN'), [null], { x: 1 }];

/** One change to the value at `at`: `what` names it. */
function mutateValue(rng: Rng, v: Json): { value: Json; what: string } {
  if (Array.isArray(v) && v.length && rng.chance(0.7)) {
    const i = rng.int(v.length);
    const j = rng.int(v.length);
    const a = [...v];
    switch (rng.int(6)) {
      case 0:
        [a[i], a[j]] = [a[j], a[i]];
        return { value: a, what: `swap items ${i} and ${j}` };
      case 1:
        return { value: a.reverse(), what: 'reverse' };
      case 2:
        a.splice(i, 1);
        return { value: a, what: `drop item ${i}` };
      case 3:
        a.splice(i, 0, a[i]);
        return { value: a, what: `duplicate item ${i}` };
      case 4:
        return { value: [], what: 'empty array' };
      default:
        a.push(rng.pick([...ANY, ...NUMBERS]));
        return { value: a, what: 'push an item' };
    }
  }
  if (v && typeof v === 'object' && !Array.isArray(v) && rng.chance(0.5)) {
    const keys = Object.keys(v);
    const o = { ...(v as Record<string, Json>) };
    const k = keys.length ? rng.pick(keys) : 'x';
    switch (rng.int(4)) {
      case 0:
        delete o[k];
        return { value: o, what: `drop key ${k}` };
      case 1:
        o[rng.pick(['extra', '__proto__', 'constructor', k.toUpperCase()])] = rng.pick(ANY);
        return { value: o, what: 'add a key' };
      case 2: {
        const renamed = Object.fromEntries(Object.entries(o).map(([key, x]) => [key === k ? `${k}_` : key, x]));
        return { value: renamed, what: `rename key ${k}` };
      }
      default:
        return { value: {}, what: 'empty object' };
    }
  }
  if (typeof v === 'number' && rng.chance(0.8)) {
    const choice = rng.int(4);
    if (choice === 0) return { value: -v, what: 'negate' };
    if (choice === 1) return { value: v * 1000, what: '×1000' };
    if (choice === 2) return { value: Number.isInteger(v) ? v + 0.5 : v * 1.01, what: 'not the same number' };
    const n = rng.pick(NUMBERS);
    return { value: n, what: `number → ${shown(n)}` };
  }
  if (typeof v === 'string' && rng.chance(0.8)) {
    const choice = rng.int(3);
    if (choice === 0) return { value: v.toUpperCase(), what: 'upper case' };
    if (choice === 1) return { value: `${v} `, what: 'trailing space' };
    const s = rng.pick(STRINGS);
    return { value: s, what: `string → ${shown(s)}` };
  }
  // A change of type.
  const to = rng.pick([...ANY, typeof v === 'number' ? String(v) : typeof v === 'string' && v !== '' && Number.isFinite(Number(v)) ? Number(v) : 1, [v]]);
  return { value: to, what: `type → ${shown(to)}` };
}

/** The whole file replaced: deleted, emptied, cut, garbage, another JSON value. */
function wholeFile(rng: Rng, b: Buffer, others: Buffer[]): { content: Buffer | null | 'dir'; what: string } {
  switch (rng.int(12)) {
    case 0:
      return { content: null, what: 'deleted' };
    case 1:
      return { content: Buffer.alloc(0), what: 'empty' };
    case 2: {
      const n = rng.int(b.length);
      return { content: b.subarray(0, n), what: `truncated at ${n}` };
    }
    case 3: {
      const g = Buffer.alloc(1 + rng.int(200));
      for (let i = 0; i < g.length; i++) g[i] = rng.int(256);
      return { content: g, what: 'garbage bytes' };
    }
    case 4: {
      const g = Buffer.from(b);
      for (let k = 1 + rng.int(4); k > 0 && g.length; k--) g[rng.int(g.length)] = rng.int(256);
      return { content: g, what: 'bytes changed' };
    }
    case 5:
      return { content: 'dir', what: 'a folder' };
    case 6:
      return { content: Buffer.concat([Buffer.from('\ufeff'), b]), what: 'a byte-order mark' };
    case 7:
      return { content: Buffer.concat([b, b]), what: 'written twice' };
    case 8:
      if (others.length) return { content: rng.pick(others), what: 'another file of the run' };
      return { content: Buffer.from('{"epoch":1}{"epoch":2}\n'), what: 'two objects on a line' };
    case 9:
      return { content: Buffer.from(b.toString('latin1').replace(/\n/g, '\r\n'), 'latin1'), what: 'CRLF' };
    default: {
      const v = rng.pick(['[]', 'null', '{}', '0', '"x"', 'true', 'NaN', '[{}]', '{"classes":[]}', '{"classes":null}']);
      return { content: Buffer.from(`${v}\n`), what: `'${v}'` };
    }
  }
}

/** A recipe's eval pipeline that a reader could accept: finite numbers, a positive std, known sizes. */
function plausibleEval(recipe: Json): boolean {
  const e = (recipe as { eval?: { mean?: unknown; std?: unknown; channels?: unknown; transforms?: unknown } } | null)?.eval;
  if (!e || typeof e !== 'object') return false;
  const channels = e.channels;
  const nums = (x: unknown, ok: (n: number) => boolean) =>
    Array.isArray(x) && x.length === channels && x.every((n) => typeof n === 'number' && Number.isFinite(n) && ok(n));
  if (channels !== 3 || !nums(e.mean, (n) => Math.abs(n) < 100) || !nums(e.std, (n) => n > 1e-3 && n < 100)) return false;
  if (!Array.isArray(e.transforms)) return false;
  return e.transforms.every((t: unknown) => {
    const { op, size } = (t ?? {}) as { op?: unknown; size?: unknown };
    const sizes = Array.isArray(size) ? size : [size];
    return (
      (op === 'resize' || op === 'centerCrop') && sizes.length >= 1 && sizes.every((s) => Number.isInteger(s) && (s as number) >= 1 && (s as number) <= 512)
    );
  });
}

/** config.json keys that change what predict computes (numerics: the precision, the threads). */
const CONFIG_NUMERICS = new Set(['precision', 'threads', 'batchSize', 'device']);

interface FileMutation {
  edit: FileEdit;
  what: string;
  /** predict and eval: why the answer may change, or null. */
  predict: string | null;
  eval: string | null;
}

function mutateJsonFile(rng: Rng, name: string, b: Buffer, others: Buffer[]): FileMutation {
  const short = name.replace(/^run\//, '');
  let doc: Json;
  try {
    doc = JSON.parse(b.toString('utf8')) as Json;
  } catch {
    doc = undefined; // Not JSON (an earlier change): replaced whole.
  }
  if (doc === undefined || rng.chance(0.3)) {
    const w = wholeFile(rng, b, others);
    // Without its config the run's split is not the one evaluated (defaults); recipe, vocab: must fail or be the same.
    const evalMay = name === 'run/config.json' ? 'config replaced: the validation split may differ' : null;
    return { edit: { name, content: w.content }, what: `${short} ${w.what}`, predict: null, eval: evalMay };
  }
  const all = places(doc);
  // Leaves and arrays more often than the root.
  const at = all.length > 1 && rng.chance(0.9) ? rng.pick(all.slice(1)) : [];
  const m = mutateValue(rng, getAt(doc, at));
  const changed = setAt(doc, at, m.value);
  const where = at.length ? at.join('.') : '(root)';
  let predict: string | null = null;
  let evalMay: string | null = null;
  if (name === 'run/config.json') {
    if (at.length && CONFIG_NUMERICS.has(String(at[0]))) predict = `config.json ${at[0]}: the numerics may change`;
    evalMay = 'config.json changed: the validation split or numerics may differ';
  } else if (name === 'run/recipe.json' && (at.length === 0 || at[0] === 'eval') && plausibleEval(changed)) {
    predict = evalMay = 'recipe.json eval pipeline changed to other valid values';
  }
  return { edit: { name, content: Buffer.from(stringify(changed, rng)) }, what: `${short} ${where}: ${m.what}`, predict, eval: evalMay };
}

function mutateMetrics(rng: Rng, b: Buffer): FileMutation {
  const name = 'run/metrics.jsonl';
  const lines = b.toString('utf8').split('\n').filter(Boolean);
  if (lines.length === 0) lines.push('');
  const i = rng.int(lines.length);
  let what: string;
  let text: string;
  switch (rng.int(10)) {
    case 0:
      lines.splice(i, 1);
      what = `drop line ${i + 1}`;
      break;
    case 1:
      lines.splice(i, 0, lines[i]!);
      what = `duplicate line ${i + 1}`;
      break;
    case 2:
      lines.reverse();
      what = 'lines reversed';
      break;
    case 3: {
      const last = lines.length - 1;
      const cut = rng.int(lines[last]!.length);
      text = `${lines.slice(0, last).join('\n')}\n${lines[last]!.slice(0, cut)}`;
      return { edit: { name, content: Buffer.from(text) }, what: `metrics.jsonl torn last line (at ${cut})`, predict: null, eval: null };
    }
    case 4:
      lines.splice(i, 0, rng.pick(['garbage', '{', '{"epoch":', '\u0000\u0000', '[]', 'null', '{"epoch":99}', '{"epoch":"1"}']));
      what = `a bad line before line ${i + 1}`;
      break;
    case 5:
      lines.splice(i, 0, '');
      text = `${lines.join('\n')}\n`;
      return { edit: { name, content: Buffer.from(text) }, what: `metrics.jsonl a blank line before line ${i + 1}`, predict: null, eval: null };
    case 6:
      return { edit: { name, content: Buffer.from(lines.join('\n')) }, what: 'metrics.jsonl no final newline', predict: null, eval: null };
    case 7: {
      const m = mutateJsonFile(rng, name, Buffer.from(lines[i]!), []);
      if (Buffer.isBuffer(m.edit.content)) lines[i] = m.edit.content.toString('utf8').replace(/\n\s*/g, '');
      else lines.splice(i, 1);
      what = `line ${i + 1}: ${m.what.replace(/^metrics.jsonl /, '')}`;
      break;
    }
    default: {
      const w = wholeFile(rng, b, []);
      return { edit: { name, content: w.content }, what: `metrics.jsonl ${w.what}`, predict: null, eval: null };
    }
  }
  return { edit: { name, content: Buffer.from(`${lines.join('\n')}\n`) }, what: `metrics.jsonl ${what}`, predict: null, eval: null };
}

function mutateCheckpoint(rng: Rng, base: BaseRun): FileMutation {
  switch (rng.int(4)) {
    case 0:
      return { edit: { name: 'run/best.safetensors', content: null }, what: 'best.safetensors deleted', predict: null, eval: null };
    case 1:
      return { edit: { name: 'run/last.safetensors', content: null }, what: 'last.safetensors deleted', predict: null, eval: null };
    case 2: {
      const m = 'last.safetensors copied over best.safetensors';
      return { edit: { name: 'run/best.safetensors', content: base.files['run/last.safetensors']! }, what: m, predict: m, eval: m };
    }
    default: {
      const b = base.files['run/best.safetensors']!;
      return {
        edit: { name: 'run/best.safetensors', content: b.subarray(0, rng.int(b.length)) },
        what: 'best.safetensors truncated',
        predict: null,
        eval: null,
      };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Command lines.

const NUMBER_VALUES = [
  '',
  ' ',
  'abc',
  '-1',
  '0',
  '-0',
  '0.5',
  '1.5',
  '1e30',
  '-1e30',
  'NaN',
  'Infinity',
  '1000000',
  '100000',
  '9007199254740993',
  '0x10',
  '1e-30',
  '2,2',
  '１',
];
const PATHS = [
  '',
  'nowhere/x',
  'run',
  'run/config.json',
  'run/vocab.json',
  'run/best.safetensors',
  'data',
  'data/train.csv',
  'data/test.csv',
  'data/images',
  '/dev/null',
  '.',
];

/** Train options and the values tried for them (numbers: NUMBER_VALUES). */
const TRAIN_VALUES: Record<string, string[] | 'number'> = {
  epochs: 'number',
  'batch-size': 'number',
  lr: 'number',
  'weight-decay': 'number',
  momentum: 'number',
  seed: 'number',
  'image-size': 'number',
  'val-fraction': 'number',
  workers: 'number',
  'limit-per-class': 'number',
  'val-limit-per-class': 'number',
  'label-noise': 'number',
  threads: 'number',
  'ols-alpha': 'number',
  accumulate: 'number',
  ema: 'number',
  'rrc-scale': 'number',
  'crop-padding': 'number',
  mixup: 'number',
  cutmix: 'number',
  smoothing: 'number',
  model: ['', 'resnet18', 'resnet32', 'RESNET20', 'resnet20,resnet20', 'x'],
  optimizer: ['', 'adamw', 'rmsprop', 'SGD', 'x'],
  scheduler: ['', 'onecycle', 'step', 'none', 'x'],
  loss: ['', 'online-label-smoothing', 'x'],
  precision: ['', 'fp32', 'fp64', 'fp16', 'x'],
  device: ['', 'cpu', 'cuda', 'cuda:0', 'cuda:-1', 'cuda:1e30', 'gpu', 'cpu:0'],
  augment: ['', 'none', 'randaugment', 'imagenet', 'x'],
  normalize: ['', 'none', 'imagenet', 'x'],
  data: ['', 'nowhere', 'run', 'data/test.csv', 'data/images', 'run/config.json', 'data/train.csv'],
  out: ['', 'data', 'data/train.csv', 'run/', './run', 'run/config.json', 'nowhere'],
  weights: PATHS,
  config: ['', 'run/config.json', 'run/vocab.json', 'run/recipe.json', 'run/metrics.jsonl', 'data/train.csv', 'nowhere.json'],
};

/** Options of every command that runs a model: the data-parallel launch (no value that starts thousands of processes or waits for another machine). */
const LAUNCH_VALUES: Record<string, string[]> = {
  nproc: ['', '0', '-1', '1', '2', '1.5', 'NaN', 'abc', ' ', '9', '100'],
  nnodes: ['', '0', '-1', '1', 'abc'],
  'node-rank': ['', '-1', '1', '0', 'abc'],
  'master-addr': ['', 'x', '127.0.0.1'],
  'master-port': ['', '0', '-1', '70000', 'abc'],
  'dist-timeout': ['', '0', '-1', 'NaN', 'abc', '1e30', '0.001'],
};

const RUN_VALUES: Record<string, string[]> = {
  run: ['', 'nowhere', 'data', 'run/config.json', 'run/', './run', '.'],
  checkpoint: ['', 'best', 'last', 'bset', 'config', '../run/best', 'best,best', 'last.safetensors', '/dev/null', 'BEST'],
  device: ['', 'cpu', 'auto', 'cuda', 'cuda:0', 'cuda:-1', 'cuda:1e30', 'gpu', 'cpu:0', 'meta'],
};

const PREDICT_VALUES: Record<string, string[]> = {
  ...RUN_VALUES,
  data: ['', 'nowhere.csv', 'data/train.csv', 'data', 'run', 'run/vocab.json', 'run/best.safetensors', 'data/images/0.png', '/dev/null'],
  out: [
    '',
    'data/test.csv',
    'data/train.csv',
    'run/config.json',
    'run/vocab.json',
    'run',
    'data',
    'nowhere/sub.csv',
    '/dev/null',
    'sub.csv/',
    'data/images/0.png',
  ],
};

const EVAL_VALUES: Record<string, string[]> = {
  ...RUN_VALUES,
  data: ['', 'nowhere', 'data/train.csv', 'data', 'data/test.csv', 'run', 'run/config.json', 'data/images', '/dev/null'],
};

/** An option set to `value` in one of the forms a user types (or mistypes). */
function optionForm(rng: Rng, name: string, value: string): { args: string[]; what: string } {
  switch (rng.int(8)) {
    case 0:
      return { args: [`--${name}=${value}`], what: `--${name}=${value}` };
    case 1:
      return { args: [`--${name}`], what: `--${name} (no value)` };
    case 2:
      return { args: [`--${name}=`], what: `--${name}=` };
    case 3:
      return { args: [`--${name}==${value}`], what: `--${name}==${value}` };
    default:
      return { args: [`--${name}`, value], what: `--${name} '${value}'` };
  }
}

/** The value an option has in `args` (the last one given), or undefined. */
function optionValue(args: string[], name: string): string | undefined {
  let v: string | undefined;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === `--${name}`) v = args[i + 1];
    else if (args[i]!.startsWith(`--${name}=`)) v = args[i]!.slice(name.length + 3);
  }
  return v;
}

interface CommandLine {
  args: string[];
  what: string[];
  /** Why the answer may change, or null. */
  may: string | null;
}

/** One change to a command line: an option's value, a flag added, repeated or dropped. */
function mutateArgs(rng: Rng, line: CommandLine, values: Record<string, string[] | 'number'>, flags: string[]): void {
  const names = Object.keys(values);
  const kind = rng.int(10);
  if (kind <= 5) {
    const name = rng.pick(names);
    const pool = values[name]!;
    const value = rng.pick(pool === 'number' ? NUMBER_VALUES : pool);
    const form = optionForm(rng, name, value);
    // The last one given wins: put it last, or before an option that then reads as its value.
    if (form.args.length === 1 && form.args[0] === `--${name}` && rng.chance(0.5)) line.args.splice(1 + rng.int(line.args.length), 0, ...form.args);
    else line.args.push(...form.args);
    line.what.push(form.what);
  } else if (kind === 6) {
    const flag = rng.pick(flags);
    line.args.push(`--${flag}`);
    if (rng.chance(0.5)) line.args.push(`--${flag}`);
    line.what.push(`--${flag}`);
  } else if (kind === 7) {
    // An option given twice.
    const name = rng.pick(names);
    const v = optionValue(line.args, name);
    const pool = values[name]!;
    const other = rng.pick(pool === 'number' ? NUMBER_VALUES : pool);
    line.args.push(`--${name}`, v ?? other, `--${name}`, other);
    line.what.push(`--${name} twice (${v ?? other}, ${other})`);
  } else if (kind === 8) {
    // Something that is not an option.
    const stray = rng.pick(['--', 'x', '-', '--unknown', '--tta=1', '-h2', '--run-dir', '---run', '--=x']);
    line.args.splice(1 + rng.int(line.args.length), 0, stray);
    line.what.push(`stray '${stray}'`);
  } else {
    // An option dropped (with its value).
    const at = line.args.findIndex((a, i) => i > 0 && a.startsWith('--') && rng.chance(0.4));
    if (at > 0) {
      const takesValue = at + 1 < line.args.length && !line.args[at + 1]!.startsWith('--');
      line.what.push(`without ${line.args[at]}`);
      line.args.splice(at, takesValue ? 2 : 1);
    }
  }
}

/** A launch option (data-parallel) set to one of its values. */
function launchArg(rng: Rng, line: CommandLine): void {
  const name = rng.pick(Object.keys(LAUNCH_VALUES));
  const form = optionForm(rng, name, rng.pick(LAUNCH_VALUES[name]!));
  line.args.push(...form.args);
  line.what.push(form.what);
}

// ---------------------------------------------------------------------------------------------
// Cases.

/** Case `index`: a command, 0–2 changes to the run folder and 0–2 to its command line (at least one change). */
export function makeCliCase(seed: number, index: number, base: BaseRun): CliCase {
  const rng = new Rng(seed, 26, index);
  const command: Command = rng.pick(['predict', 'predict', 'predict', 'predict', 'eval', 'eval', 'eval', 'resume', 'resume', 'resume']);
  const fileChanges = rng.chance(0.7) ? 1 + (rng.chance(0.25) ? 1 : 0) : 0;
  const argChanges = fileChanges === 0 || rng.chance(0.4) ? 1 + (rng.chance(0.25) ? 1 : 0) : 0;

  const edits: FileEdit[] = [];
  const what: string[] = [command];
  const reasons: string[] = [];
  for (let k = 0; k < fileChanges; k++) {
    const pick = rng.int(20);
    const others = RUN_FILES.map((f) => base.files[f]!);
    const current = (name: string): Buffer | null => {
      const edit = [...edits].reverse().find((e) => e.name === name);
      if (!edit) return base.files[name]!;
      return Buffer.isBuffer(edit.content) ? edit.content : null;
    };
    let m: FileMutation;
    if (pick === 19) m = mutateCheckpoint(rng, base);
    else {
      const name = pick < 6 ? 'run/config.json' : pick < 11 ? 'run/recipe.json' : pick < 16 ? 'run/vocab.json' : 'run/metrics.jsonl';
      const b = current(name);
      if (b === null) continue;
      m = name === 'run/metrics.jsonl' ? mutateMetrics(rng, b) : mutateJsonFile(rng, name, b, others);
    }
    edits.push(m.edit);
    what.push(m.what);
    const why = command === 'predict' ? m.predict : command === 'eval' ? m.eval : null;
    if (why) reasons.push(why);
  }

  let line: CommandLine;
  let baseline: BaselineKey | null = null;
  let outFile: string | null = null;
  let epochs: number | null = null;
  if (command === 'resume') {
    line = { args: ['train', ...base.trainArgs, '--epochs', String(base.epochs + 1), '--resume'], what: [], may: null };
    for (let k = 0; k < argChanges; k++) {
      if (rng.chance(0.1)) launchArg(rng, line);
      else mutateArgs(rng, line, TRAIN_VALUES, ['overwrite', 'resume', 'skip-bad-images', 'sync-bn', 'allow-outside-paths', 'help']);
    }
    const e = optionValue(line.args, 'epochs');
    if (e !== undefined && /^\d+$/.test(e) && line.args.filter((a) => a === '--epochs' || a.startsWith('--epochs=')).length === 1) epochs = Number(e);
  } else {
    const values = command === 'predict' ? PREDICT_VALUES : EVAL_VALUES;
    const tta = rng.chance(0.2);
    const last = rng.chance(0.2);
    line = {
      args: [command, '--run', 'run', ...(command === 'predict' ? ['--data', 'data/test.csv', '--out', 'sub.csv'] : [])],
      what: [],
      may: null,
    };
    if (tta) line.args.push('--tta');
    if (last) line.args.push('--checkpoint', 'last');
    for (let k = 0; k < argChanges; k++) {
      if (rng.chance(0.1)) launchArg(rng, line);
      else mutateArgs(rng, line, values, ['tta', 'help', 'resume', 'skip-bad-images']);
    }
    // What the command line asks, read back as the CLI would (the last value of an option wins),
    // to pick the untouched output to compare with; anything unusual: no comparison.
    const checkpoint = optionValue(line.args, 'checkpoint') ?? 'best';
    const run = optionValue(line.args, 'run');
    const data = optionValue(line.args, 'data');
    const sameRun = run === 'run' || run === 'run/' || run === './run';
    const usual = sameRun && (checkpoint === 'best' || checkpoint === 'last');
    if (command === 'predict') {
      outFile = optionValue(line.args, 'out') ?? null;
      if (outFile === '' || outFile === '/dev/null') outFile = null;
      if (usual && data === 'data/test.csv') baseline = { checkpoint, tta: line.args.includes('--tta'), data };
    } else if (usual && (data === undefined || data === 'data' || data === 'data/train.csv'))
      baseline = { checkpoint, tta: line.args.includes('--tta'), data: data ?? 'val' };
    what.push(...(tta ? ['--tta'] : []), ...(last ? ['--checkpoint last'] : []));
  }
  what.push(...line.what);
  if (line.may) reasons.push(line.may);
  return { index, command, edits, args: line.args, what, mayDiffer: reasons.length ? reasons.join('; ') : null, baseline, outFile, epochs };
}
