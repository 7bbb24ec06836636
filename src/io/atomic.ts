// Nothing lost: files are written to a temporary name in the same folder, flushed, then renamed
// over the target, so a reader sees the old file or the new one, never half of one.
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { BadInputError } from '../engine/index.js';

const tempName = (path: string) => join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);

export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const tmp = tempName(path);
  try {
    mkdirSync(dirname(path), { recursive: true });
    const fd = openSync(tmp, 'w');
    try {
      const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // the folder itself is what failed
    }
    // The file the user will look for, not only the temporary one or none (ENOSPC on a write names no file).
    const { code, message } = e as NodeJS.ErrnoException;
    throw Object.assign(new Error(`${path}: could not be written (${message})`, { cause: e }), { code });
  }
}

/** Removes the temporary files that writes killed midway left in `dir` (their process is gone); returns their names. */
export function removeStaleTemporaries(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = /^\..+\.(\d+)\.tmp$/.exec(name);
    if (!m || Number(m[1]) === process.pid || processRunning(Number(m[1]))) continue;
    rmSync(join(dir, name), { force: true });
    removed.push(name);
  }
  return removed;
}

/** Whether a process of this machine with this pid is running (EPERM: it is, as another user's). */
export function processRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Refuses an output that is one of the inputs (the same file, through a symbolic or hard link
 * too): writing it would destroy what the command reads. An output that does not exist yet is no
 * input. `what` names each in the message (e.g. '--out sub.csv', '--data test.csv'); `fix` says
 * what to do instead.
 */
export function refuseOverwritingInput(output: { what: string; path: string }, inputs: Array<{ what: string; path: string }>, fix: string): void {
  const out = fileIdentity(output.path);
  if (!out) return;
  for (const input of inputs) {
    const id = fileIdentity(input.path);
    if (id && id.dev === out.dev && id.ino === out.ino)
      throw new BadInputError(`${output.what} would overwrite ${input.what}${input.path === output.path ? '' : ` (${output.path} is the same file)`}: ${fix}`);
  }
}

function fileIdentity(path: string): { dev: number; ino: number } | null {
  try {
    const s = statSync(path);
    return s.isFile() ? { dev: s.dev, ino: s.ino } : null;
  } catch {
    return null;
  }
}
