// Deterministic release of native memory: tidy(fn) disposes every tensor created inside fn except
// those fn returns and those passed to keep(). The GC finalizer of each handle is only a backstop.

/** Anything that owns native memory. */
export interface Owned {
  dispose(): void;
  readonly isDisposed: boolean;
  /** Called when the object leaves every scope: from now on only its owner or the GC frees it. */
  escape(): void;
}

const scopes: Set<Owned>[] = [];

/**
 * Called by every new tensor: it belongs to the innermost open scope, if any. Returns false when
 * no scope is open (the tensor then needs the GC backstop at once).
 */
export function track(t: Owned): boolean {
  const s = scopes[scopes.length - 1];
  if (s === undefined) return false;
  s.add(t);
  return true;
}

/** Exempts `t` from disposal by every enclosing tidy(); the caller now owns it. */
export function keep<T extends Owned>(t: T): T {
  for (const s of scopes) s.delete(t);
  t.escape();
  return t;
}

function collect(value: unknown, out: Set<Owned>, seen: Set<unknown>): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (isOwned(value)) {
    out.add(value);
    return;
  }
  if (Array.isArray(value)) for (const v of value) collect(v, out, seen);
  else if (value instanceof Map) for (const v of value.values()) collect(v, out, seen);
  else if (Object.getPrototypeOf(value) === Object.prototype) for (const v of Object.values(value)) collect(v, out, seen);
}

function isOwned(v: object): v is Owned {
  return typeof (v as Owned).dispose === 'function' && typeof (v as Owned).isDisposed === 'boolean';
}

/**
 * Runs fn and disposes the tensors it created, except those it returns (directly, or inside arrays,
 * Maps and plain objects) and those passed to keep(). Returned tensors move to the enclosing scope.
 * fn must be synchronous: a Promise result is an error (tensors would be freed while still in use).
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Owned>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const t of scope) t.dispose();
    throw e;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const t of scope) t.dispose();
    throw new Error('tidy(fn): fn returned a Promise; tidy only works with synchronous functions');
  }
  const survivors = new Set<Owned>();
  collect(result, survivors, new Set());
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (!survivors.has(t)) t.dispose();
    else if (parent !== undefined) parent.add(t);
    else t.escape();
  }
  return result;
}

/** Disposes every tensor found in value (a tensor, or arrays/Maps/plain objects of them). */
export function dispose(value: unknown): void {
  const found = new Set<Owned>();
  collect(value, found, new Set());
  for (const t of found) t.dispose();
}
