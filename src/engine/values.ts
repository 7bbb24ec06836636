// Numbers a user gives (options, configuration files): one parser and one range check for all of
// them, so that an empty value, `abc`, `Infinity` or an out-of-range value is refused the same way,
// naming the option, rather than becoming 0 (Number('') is 0) or a NaN that fails far away.
import { BadInputError } from './errors.js';

/** The values an option accepts; integers are also bounded by 2^53 − 1 (beyond it a number is not exact). */
export interface NumberRange {
  integer?: boolean;
  min?: number;
  max?: number;
  /** min itself is refused: (min, …). */
  minOpen?: boolean;
  /** max itself is refused: (…, max). */
  maxOpen?: boolean;
  /** Said after the range, in brackets: what a special value means ('0: auto'). */
  note?: string;
}

/** The range in words, as a message or a help text says it: 'a positive integer', 'in [0, 1)', '≥ 0 (0: auto)'. */
export function describeRange(r: NumberRange): string {
  const lo = r.min === undefined ? null : `${r.minOpen ? '>' : '≥'} ${r.min}`;
  let words: string;
  if (r.min !== undefined && r.max !== undefined)
    words = `${r.integer ? 'an integer ' : ''}in ${r.minOpen ? '(' : '['}${r.min}, ${r.max}${r.maxOpen ? ')' : ']'}`;
  else if (r.integer) words = r.min === 1 && !r.minOpen ? 'a positive integer' : `an integer${lo ? ` ${lo}` : ''}`;
  else words = lo ?? (r.max !== undefined ? `${r.maxOpen ? '<' : '≤'} ${r.max}` : 'a number');
  return `${words}${r.note ? ` (${r.note})` : ''}`;
}

/** Whether v is a finite number within r. */
export function inRange(v: unknown, r: NumberRange): v is number {
  if (typeof v !== 'number' || !Number.isFinite(v)) return false;
  if (r.integer && !(Number.isInteger(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER)) return false;
  if (r.min !== undefined && (r.minOpen ? v <= r.min : v < r.min)) return false;
  if (r.max !== undefined && (r.maxOpen ? v >= r.max : v > r.max)) return false;
  return true;
}

/** `${what} must be …, got '…'` when v is out of r. */
export function checkRange(v: unknown, what: string, r: NumberRange): number {
  if (inRange(v, r)) return v;
  const huge = r.integer && typeof v === 'number' && Math.abs(v) > Number.MAX_SAFE_INTEGER && Number.isFinite(v);
  throw new BadInputError(
    `${what} must be ${describeRange(r)}${huge ? ' (at most 2^53 − 1, the largest integer a number holds exactly)' : ''}, got ${shown(v)}`,
  );
}

/**
 * A number from what a user wrote (a string, or a number from JSON): empty text, anything Number()
 * would read as 0 or NaN without being a number (' ', 'abc', '1,5'), and non-finite values are
 * refused, as is a value out of `r`; the message names `what` (e.g. '--smoothing').
 */
export function parseNumber(raw: unknown, what: string, r: NumberRange = {}): number {
  const text = typeof raw === 'string' ? raw.trim() : null;
  const n = typeof raw === 'number' ? raw : text !== null && text !== '' ? Number(text) : Number.NaN;
  if (!Number.isFinite(n)) {
    const range = describeRange(r);
    throw new BadInputError(`${what} must be ${/^(a |an )/.test(range) ? range : `a number ${range}`}, got ${shown(raw)}`);
  }
  return checkRange(n, what, r);
}

/** A value from a JSON file in a message: as JSON, and a key that is not there as such (not 'undefined'). */
export const shownJson = (v: unknown): string => (v === undefined ? 'nothing (the key is missing)' : JSON.stringify(v));

const shown = (v: unknown) => (typeof v === 'string' ? `'${v}'` : typeof v === 'number' ? String(v) : (JSON.stringify(v) ?? String(v)));
