// An output folder locked for the life of a run: a lock file holding the owner's pid and host,
// created with O_EXCL so that two processes cannot both hold it. A second writer is refused with
// the first one's pid; a lock whose process is gone (killed) is taken over with a warning. Released
// on release(), and at exit or SIGTERM for a lock its holder never released.
import { closeSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { BadInputError } from '../engine/index.js';
import { processRunning } from './atomic.js';

/** The lock's name inside the folder. */
export const LOCK_FILE = '.lsr-lock';

interface Owner {
  pid: number;
  host: string;
  since: string;
}

export interface FolderLock {
  readonly path: string;
  release(): void;
}

/** Locks this process holds, by lock path: how many holders (a process may lock a folder it already holds). */
const held = new Map<string, number>();

/**
 * Locks `dir` (created if need be) for this process. `name` says in messages which folder it is
 * (e.g. '--out runs/a'); `warn` hears of a stale lock taken over.
 */
export function lockFolder(dir: string, name: string, warn: ((line: string) => void) | null = null): FolderLock {
  const path = join(dir, LOCK_FILE);
  const hold = (): FolderLock => {
    held.set(path, (held.get(path) ?? 0) + 1);
    if (held.size === 1 && held.get(path) === 1) watchExit();
    let released = false;
    return {
      path,
      release() {
        if (released) return;
        released = true;
        const n = (held.get(path) ?? 1) - 1;
        if (n > 0) return void held.set(path, n);
        held.delete(path);
        removeIfOurs(path);
        if (held.size === 0) unwatchExit();
      },
    };
  };
  if (held.has(path)) return hold();
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new BadInputError(`${name} cannot hold the run: ${(e as Error).message}`);
  }
  // A few rounds: a lock that vanishes or is taken over between our looks is looked at again.
  for (let round = 0; round < 5; round++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new BadInputError(`${name} cannot be locked (${path}): ${(e as Error).message}`);
      const owner = readOwner(path);
      if (owner === 'gone') continue;
      if (owner === null || !isStale(owner)) throw refusal(name, path, owner);
      // Taken over by moving it aside first: if another process took it over meanwhile, what moved is theirs, and goes back.
      const aside = `${path}.stale-${process.pid}`;
      try {
        renameSync(path, aside);
      } catch {
        continue;
      }
      const moved = readOwner(aside);
      if (moved === 'gone' || moved === null || moved.pid !== owner.pid || moved.host !== owner.host) {
        try {
          linkSync(aside, path);
        } catch {
          // a third process holds it now: it is looked at again
        }
        rmSync(aside, { force: true });
        continue;
      }
      rmSync(aside, { force: true });
      warn?.(`warning: ${name}: took over the lock of pid ${owner.pid}, which is no longer running (it held it since ${owner.since})`);
      continue;
    }
    try {
      writeSync(fd, JSON.stringify(me()));
    } finally {
      closeSync(fd);
    }
    return hold();
  }
  throw new BadInputError(`${name}: could not lock it (${path} kept changing hands)`);
}

/** Refuses, as lockFolder would, when another live process holds `dir`'s lock; takes nothing (an early, cheap check). */
export function checkFolderLock(dir: string, name: string): void {
  const path = join(dir, LOCK_FILE);
  if (held.has(path)) return;
  const owner = readOwner(path);
  if (owner === 'gone') return;
  if (owner === null || !isStale(owner)) throw refusal(name, path, owner);
}

const me = (): Owner => ({ pid: process.pid, host: hostname(), since: new Date().toISOString() });

function refusal(name: string, path: string, owner: Owner | null): BadInputError {
  if (owner === null)
    return new BadInputError(
      `${name} is locked by ${path}, which names no process (a process was creating it, or was killed while it did): delete it if no lsr run uses the folder`,
    );
  const where = owner.host === hostname() ? '' : ` on ${owner.host}`;
  return new BadInputError(
    `${name} is in use by another lsr run (pid ${owner.pid}${where}, since ${owner.since}): wait for it to end, or choose another folder${where ? `; if that run is gone, delete ${path}` : ''}`,
  );
}

/** The lock's owner; 'gone' when there is no lock; null when it names none (being written, or cut short), after a short wait. */
function readOwner(path: string): Owner | 'gone' | null {
  for (let attempt = 0; attempt < 10; attempt++) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      // No lock, or no folder to hold one (ENOTDIR: a file in its path, which the run's own checks name).
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return 'gone';
      throw e;
    }
    try {
      const o = JSON.parse(text) as Partial<Owner>;
      if (Number.isSafeInteger(o.pid) && (o.pid as number) > 0 && typeof o.host === 'string') return { pid: o.pid!, host: o.host, since: String(o.since) };
    } catch {
      // its writer may be between creating it and writing it: looked at again
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
  return null;
}

/** A lock of this machine whose process has ended; another machine's cannot be told, and is not stale. */
function isStale(owner: Owner): boolean {
  if (owner.host !== hostname()) return false;
  // Not in `held` (checked first), so not this process's: a pid reused after a killed run's.
  if (owner.pid === process.pid) return true;
  return !processRunning(owner.pid);
}

function removeIfOurs(path: string): void {
  const owner = readOwner(path);
  if (owner !== 'gone' && owner !== null && owner.pid === process.pid && owner.host === hostname()) rmSync(path, { force: true });
}

const releaseAll = () => {
  for (const path of held.keys()) removeIfOurs(path);
  held.clear();
};
// SIGTERM's default ends the process without 'exit': the locks go first, then the signal is raised again.
const onSigterm = () => {
  releaseAll();
  unwatchExit();
  if (process.listenerCount('SIGTERM') === 0) process.kill(process.pid, 'SIGTERM');
};
function watchExit(): void {
  process.on('exit', releaseAll);
  process.on('SIGTERM', onSigterm);
}
function unwatchExit(): void {
  process.off('exit', releaseAll);
  process.off('SIGTERM', onSigterm);
}

/** Runs `fn` with `dir` locked (lockFolder), releasing the lock after, whether fn succeeds or fails. */
export async function withFolderLock<T>(dir: string, name: string, warn: ((line: string) => void) | null, fn: () => Promise<T>): Promise<T> {
  const lock = lockFolder(dir, name, warn);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}
