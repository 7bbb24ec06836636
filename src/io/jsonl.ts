// Append-only JSON-lines logs (metrics.jsonl, resumes.jsonl): a crash during an append leaves the
// last line cut short, with no newline after it; that line is dropped with a warning. Anything
// unreadable before it no crash leaves: an error naming the file and line.
import { appendFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import { BadInputError } from '../engine/index.js';
import { writeFileAtomic } from './atomic.js';

export interface JsonLines<T> {
  entries: T[];
  /** The last line, cut short (no newline after it, and not a valid entry): dropped; null when the file ends whole. */
  tornTail: string | null;
}

/**
 * Reads a JSON-lines file, each line checked by `check` (which throws, naming `where`, for an
 * entry it refuses). Blank lines are skipped.
 */
export function readJsonLines<T>(path: string, check: (value: unknown, where: string) => T): JsonLines<T> {
  refuseFolder(path);
  const lines = readFileSync(path, 'utf8').split('\n');
  // What follows the last newline: '' when the file ends whole.
  const tail = lines.pop()!;
  const entries: T[] = [];
  const parse = (line: string, n: number): T => {
    const where = `${path}, line ${n}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      throw new BadInputError(`${where}: not valid JSON (${(e as Error).message}); only a last line cut short by a crash is dropped: fix or delete this line`);
    }
    return check(value, where);
  };
  lines.forEach((line, i) => {
    if (line.trim()) entries.push(parse(line, i + 1));
  });
  if (!tail.trim()) return { entries, tornTail: null };
  try {
    entries.push(parse(tail, lines.length + 1));
    return { entries, tornTail: null };
  } catch {
    return { entries, tornTail: tail };
  }
}

/** A folder where a log is read or appended to is an error naming it (not EISDIR). */
function refuseFolder(path: string): void {
  if (statSync(path).isDirectory()) throw new BadInputError(`${path} is a folder, not a JSON-lines file: remove it (a run rewrites its log)`);
}

/** What a warning about a dropped torn line says. */
export function tornTailWarning(path: string, tail: string): string {
  const shown = tail.length > 60 ? `${tail.slice(0, 60)}…` : tail;
  return `warning: ${path}: its last line was cut short (a crash during a write) and is dropped: ${shown}`;
}

/**
 * Appends one JSON line. A torn last line a crash left is dropped first (the file rewritten
 * atomically, `warn` told), so that the new line does not join it into garbage.
 */
export function appendJsonLine(path: string, value: unknown, warn: ((line: string) => void) | null = null): void {
  if (existsSync(path)) refuseFolder(path);
  let text = existsSync(path) ? readFileSync(path, 'utf8') : '';
  if (text !== '' && !text.endsWith('\n')) {
    const cut = text.lastIndexOf('\n') + 1;
    const tail = text.slice(cut);
    let whole = true;
    try {
      JSON.parse(tail);
    } catch {
      whole = false;
    }
    if (whole) text += '\n';
    else {
      warn?.(tornTailWarning(path, tail));
      text = text.slice(0, cut);
    }
    writeFileAtomic(path, text);
  }
  appendFileSync(path, `${JSON.stringify(value)}\n`);
}
