// One declarative option table per command, parsed by node:util's parseArgs: `--k v` and `--k=v`
// alike, `-h`/`--help` everywhere, "did you mean" for a misspelt option, and the usage text and the
// CLI reference (docs/cli.md) generated from the same tables.
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { BadInputError, type NumberRange, parseNumber } from '../engine/index.js';

export interface OptionSpec {
  kind: 'string' | 'boolean';
  /** What it does, one line. */
  help: string;
  /** The value's placeholder in the usage text (e.g. DIR, N). */
  value?: string;
  /** The default, as shown in the usage text. */
  default?: string;
  /** A number's accepted values: parseCommandLine refuses anything else (empty, not a number, out of range), naming the option. */
  range?: NumberRange;
  /** The option may be given more than once (--run A --run B): Parsed.all holds every value, in order. */
  multiple?: boolean;
}
export type OptionTable = Record<string, OptionSpec>;

export interface CommandSpec {
  name: string;
  /** One line: what the command does. */
  summary: string;
  /** Positional arguments, for commands that take them (weights info FILE). */
  positionals?: string[];
  /** Groups of options, each under a heading. */
  groups: Array<{ heading: string; options: OptionTable }>;
}

const HELP: OptionTable = { help: { kind: 'boolean', help: 'this text' } };

/** All of a command's options in one table. */
export const optionsOf = (cmd: CommandSpec): OptionTable => Object.assign({}, ...cmd.groups.map((g) => g.options)) as OptionTable;

/** Edit distance with transpositions (optimal string alignment), for "did you mean". */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The known name closest to `name`, when it is close enough to be a typo. */
export function closest(name: string, known: string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const k of known) {
    const dd = distance(name, k);
    if (dd < bestD) [best, bestD] = [k, dd];
  }
  return best !== null && bestD <= Math.max(1, Math.floor(name.length / 3)) ? best : null;
}

export interface Parsed {
  /** Options given, by their kebab-case name: strings as written, booleans as true. */
  values: Record<string, string | boolean>;
  /** Every value of an option that may be repeated (`multiple`), in order; `values` holds them joined by commas. */
  all: Record<string, string[]>;
  positionals: string[];
  /** -h or --help was given: print usage(cmd) instead of running. */
  help: boolean;
}

/**
 * Parses argv against a command's table. Unknown options, missing values and stray arguments are
 * BadInputErrors that name the option (and the nearest known one).
 */
export function parseCommandLine(cmd: CommandSpec, argv: string[]): Parsed {
  const table = { ...optionsOf(cmd), ...HELP };
  const options: NonNullable<ParseArgsConfig['options']> = {};
  for (const [k, o] of Object.entries(table))
    options[k] = k === 'help' ? { type: 'boolean', short: 'h' } : o.multiple ? { type: o.kind, multiple: true } : { type: o.kind };
  let parsed: { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: (cmd.positionals?.length ?? 0) > 0 }) as typeof parsed;
  } catch (e) {
    throw new BadInputError(explain(cmd, argv, e as Error & { code?: string }), { cause: e });
  }
  const values: Record<string, string | boolean> = {};
  const all: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(parsed.values)) {
    if (v === undefined || k === 'help') continue;
    for (const one of Array.isArray(v) ? v : [v]) {
      const range = table[k]?.range;
      if (range && typeof one === 'string') parseNumber(one, `--${k}`, range);
      // An empty path, name or list is no value (`--data=` would otherwise read '' as a file name).
      else if (typeof one === 'string' && one.trim() === '') throw new BadInputError(`--${k} needs a value, got '${one}'`);
    }
    if (Array.isArray(v)) all[k] = v;
    values[k] = Array.isArray(v) ? v.join(',') : v;
  }
  const expected = cmd.positionals?.length ?? 0;
  if (!parsed.values.help && parsed.positionals.length !== expected && expected > 0)
    throw new BadInputError(
      `lsr ${cmd.name} takes ${cmd.positionals!.join(' ')}, got ${parsed.positionals.length ? parsed.positionals.map((p) => `'${p}'`).join(' ') : 'nothing'}`,
    );
  return { values, all, positionals: parsed.positionals, help: parsed.values.help === true };
}

function explain(cmd: CommandSpec, argv: string[], e: Error & { code?: string }): string {
  const known = Object.keys(optionsOf(cmd));
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const arg = argv.find((a) => a.startsWith('-') && !known.includes(a.replace(/^--?/, '').split('=')[0]!) && !['-h', '--help'].includes(a)) ?? '';
    const name = arg.replace(/^--?/, '').split('=')[0]!;
    const near = closest(name, known);
    return `${cmd.name}: unknown option ${arg}${near ? ` (did you mean --${near}?)` : ''}; lsr ${cmd.name} --help lists its options`;
  }
  if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    return `${cmd.name}: unexpected argument '${strayArgument(cmd, argv) ?? ''}' (options start with --; lsr ${cmd.name} --help lists them)`;
  }
  // parseArgs says "Option '--x <value>' argument missing" and the like: keep its words, add ours.
  return `${cmd.name}: ${e.message.replace(/\.$/, '')}`;
}

/** The first argument that is neither an option nor the value of one. */
function strayArgument(cmd: CommandSpec, argv: string[]): string | undefined {
  const known = optionsOf(cmd);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('-')) return a;
    if (a.startsWith('--') && !a.includes('=') && known[a.slice(2)]?.kind === 'string') i++;
  }
  return undefined;
}

/** A number option's value, checked against its range in the table (its default when not given). */
export function numberOption(cmd: CommandSpec, values: Record<string, string | boolean>, name: string): number {
  const spec = optionsOf(cmd)[name];
  if (!spec) throw new Error(`${cmd.name} has no option --${name}`);
  return parseNumber(values[name] ?? spec.default, `--${name}`, spec.range);
}

/**
 * A comma-separated list option (--smoothing 0,0.1, --seeds 0,4, --classes a,b,c): items trimmed,
 * none empty and none twice (by value, so 0.1 and 0.10 are one), refused before any work: each
 * item is a run or a class, and a second one would collide with the first.
 */
export function parseList<T>(text: string, what: string, item: (s: string) => T): T[] {
  const parts = text.split(',').map((p) => p.trim());
  if (parts.some((p) => p === '')) throw new BadInputError(`${what} has an empty item in '${text}' (a comma-separated list)`);
  const items = parts.map(item);
  const first = new Map<string, string>();
  items.forEach((v, i) => {
    const key = String(v);
    const earlier = first.get(key);
    if (earlier !== undefined)
      throw new BadInputError(
        `${what} names ${earlier === parts[i] ? `'${earlier}'` : `'${earlier}' and '${parts[i]}' (both ${key})`} twice in '${text}': give each value once`,
      );
    first.set(key, parts[i]!);
  });
  return items;
}

/** `lsr weights info FILE`: the command and its positional arguments. */
export const synopsis = (cmd: CommandSpec): string => `lsr ${cmd.name}${cmd.positionals?.length ? ` ${cmd.positionals.join(' ')}` : ''}`;
/** `--lr LR`: an option as written on the command line. */
const optionHead = (k: string, o: OptionSpec): string => `--${k}${o.kind === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`;

function optionLines(options: OptionTable): string[] {
  const heads = Object.entries(options).map(([k, o]) => [optionHead(k, o), `${o.help}${o.default !== undefined ? ` (default ${o.default})` : ''}`] as const);
  const w = Math.min(34, Math.max(...heads.map(([h]) => h.length)) + 2);
  return heads.map(([h, text]) => (h.length + 2 > w ? `  ${h}\n  ${' '.repeat(w)}${text}` : `  ${h.padEnd(w)}${text}`));
}

/** `lsr <command> --help`. */
export function usage(cmd: CommandSpec): string {
  const lines = [`usage: ${synopsis(cmd)} [options]`, '', cmd.summary];
  for (const g of cmd.groups) lines.push('', `${g.heading}:`, ...optionLines(g.options));
  lines.push('', 'Options take --name value or --name=value; -h or --help prints this text.');
  return lines.join('\n');
}

/** The CLI reference in Markdown (docs/cli.md), from the same tables as the usage texts. */
export function reference(commands: CommandSpec[]): string {
  const out = [
    '# lsr command-line reference',
    '',
    'Generated from the option tables in src/cli (`lsr help --markdown`); a test fails when this file and the tables differ.',
    '',
  ];
  for (const cmd of commands) {
    out.push(`## ${synopsis(cmd)}`, '', cmd.summary, '');
    for (const g of cmd.groups) {
      if (Object.keys(g.options).length === 0) continue;
      out.push(`${g.heading}:`, '', '| option | meaning |', '| --- | --- |');
      for (const [k, o] of Object.entries(g.options))
        out.push(`| \`${optionHead(k, o)}\` | ${o.help.replace(/\|/g, '\\|')}${o.default !== undefined ? ` (default \`${o.default}\`)` : ''} |`);
      out.push('');
    }
  }
  return `${out.join('\n').trimEnd()}\n`;
}
