// nn.Module: a tree of modules owning named parameters and buffers, with PyTorch's dotted
// state-dict keys (conv1.weight, layer1.0.bn1.running_mean, ...), train/eval, loading, casting.
import { BadInputError, type DType, type Device, type MemoryFormat, Tensor, keep, noGrad, tidy } from '../engine/index.js';

/** Keys to tensors in PyTorch's order: a module's parameters, its buffers, then its children's. */
export type StateDict = Map<string, Tensor>;

export interface LoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

export abstract class Module {
  training = true;
  readonly #parameters = new Map<string, Tensor | null>();
  readonly #buffers = new Map<string, Tensor | null>();
  readonly #nonPersistent = new Set<string>();
  readonly #modules = new Map<string, Module | null>();

  abstract forward(x: Tensor): Tensor;

  /** Same as forward(x). */
  call(x: Tensor): Tensor {
    return this.forward(x);
  }

  /** The class name, as PyTorch prints it. */
  get name(): string {
    return this.constructor.name;
  }

  // ---- registration ----

  /** Registers a parameter (a leaf tensor that requires grad); the module owns it from now on. */
  protected registerParameter(name: string, t: Tensor): Tensor;
  protected registerParameter(name: string, t: Tensor | null): Tensor | null;
  protected registerParameter(name: string, t: Tensor | null): Tensor | null {
    this.#checkName(name, this.#parameters);
    if (t) keep(t).requiresGrad_(true);
    this.#parameters.set(name, t);
    return t;
  }

  /** Registers a buffer (state that is not trained: running statistics, counters). */
  protected registerBuffer(name: string, t: Tensor, opts?: { persistent?: boolean }): Tensor;
  protected registerBuffer(name: string, t: Tensor | null, opts?: { persistent?: boolean }): Tensor | null;
  protected registerBuffer(name: string, t: Tensor | null, opts: { persistent?: boolean } = {}): Tensor | null {
    this.#checkName(name, this.#buffers);
    if (t) keep(t);
    this.#buffers.set(name, t);
    if (opts.persistent === false) this.#nonPersistent.add(name);
    return t;
  }

  /** Registers a child module under `name` (its keys get the prefix `name.`). */
  registerModule<M extends Module | null>(name: string, m: M): M {
    this.#checkName(name, this.#modules);
    this.#modules.set(name, m);
    return m;
  }

  /**
   * Replaces the child `name` (e.g. a classifier head) and the field of the same name, disposing
   * the old child's tensors unless `dispose` is false (the new child holds them).
   */
  replaceModule<M extends Module>(name: string, m: M, o: { dispose?: boolean } = {}): M {
    const old = this.#modules.get(name);
    if (old === undefined) throw new Error(`${this.name}.replaceModule: no child module '${name}'`);
    this.#modules.set(name, m);
    if (name in this) Reflect.set(this, name, m);
    if (o.dispose ?? true) old?.dispose();
    return m;
  }

  #checkName(name: string, own: Map<string, unknown>): void {
    if (name === '' || name.includes('.')) throw new Error(`${this.name}: invalid name '${name}' (empty or containing '.')`);
    const taken = [this.#parameters, this.#buffers, this.#modules].some((m) => m !== own && m.has(name));
    if (taken) throw new Error(`${this.name}: '${name}' is already registered as another kind of member`);
  }

  // ---- traversal ----

  /** This module and all below it, pre-order, with dotted names ('' for this one). */
  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [name, m] of this.#modules) if (m) yield* m.namedModules(prefix ? `${prefix}.${name}` : name);
  }
  *modules(): Generator<Module> {
    for (const [, m] of this.namedModules()) yield m;
  }
  *namedChildren(): Generator<[string, Module]> {
    for (const [name, m] of this.#modules) if (m) yield [name, m];
  }
  *namedParameters(): Generator<[string, Tensor]> {
    yield* this.#named((m) => m.#parameters, false);
  }
  parameters(): Tensor[] {
    return [...this.namedParameters()].map(([, p]) => p);
  }
  *namedBuffers(): Generator<[string, Tensor]> {
    yield* this.#named((m) => m.#buffers, false);
  }
  buffers(): Tensor[] {
    return [...this.namedBuffers()].map(([, b]) => b);
  }

  *#named(members: (m: Module) => Map<string, Tensor | null>, persistentOnly: boolean): Generator<[string, Tensor]> {
    const seen = new Set<Tensor>();
    for (const [prefix, m] of this.namedModules())
      for (const [name, t] of members(m)) {
        if (!t || seen.has(t) || (persistentOnly && m.#nonPersistent.has(name))) continue;
        seen.add(t);
        yield [prefix ? `${prefix}.${name}` : name, t];
      }
  }

  /** The module at a dotted path ('layer1.0.conv1'), or an error naming the missing part. */
  getSubmodule(path: string): Module {
    let m: Module = this;
    for (const part of path === '' ? [] : path.split('.')) {
      const next = m.#modules.get(part);
      if (!next) throw new Error(`${this.name}.getSubmodule: '${path}' has no module '${part}'`);
      m = next;
    }
    return m;
  }

  // ---- modes ----

  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }
  eval(): this {
    return this.train(false);
  }
  /** Freezes (false) or unfreezes (true) every parameter below this module. */
  requiresGrad_(flag = true): this {
    for (const p of this.parameters()) p.requiresGrad_(flag);
    return this;
  }
  freeze(): this {
    return this.requiresGrad_(false);
  }
  /** Drops the gradients (PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = undefined;
  }

  // ---- state ----

  /** Parameters and persistent buffers by dotted key, in PyTorch's order. The tensors are the module's own. */
  stateDict(): StateDict {
    const out: StateDict = new Map();
    for (const [prefix, m] of this.namedModules()) {
      const key = (name: string) => (prefix ? `${prefix}.${name}` : name);
      for (const [name, p] of m.#parameters) if (p) out.set(key(name), p);
      for (const [name, b] of m.#buffers) if (b && !m.#nonPersistent.has(name)) out.set(key(name), b);
    }
    return out;
  }

  /**
   * Copies values from `sd` into this module's tensors (casting dtype and device). Shape mismatches
   * are always errors; with strict (the default) missing and unexpected keys are too. Every
   * problem is reported in one error.
   */
  loadStateDict(sd: StateDict | Record<string, Tensor>, opts: { strict?: boolean } = {}): LoadResult {
    const strict = opts.strict ?? true;
    const source = sd instanceof Map ? sd : new Map(Object.entries(sd));
    const own = this.stateDict();
    // A plain array or number where a tensor belongs (JSON read back, a typo) is named, not a TypeError inside.
    for (const [k, v] of source)
      if (!(v instanceof Tensor)) {
        const want = own.get(k);
        const got = Array.isArray(v)
          ? 'an array'
          : v === null
            ? 'null'
            : typeof v === 'object'
              ? `a ${(v as object).constructor?.name ?? 'object'}`
              : `a ${typeof v}`;
        throw new BadInputError(
          `loadStateDict for ${this.name}: '${k}' must be a Tensor${want ? ` (the model's is ${want.dtype} [${want.shape.join(', ')}]; tensor(...) makes one from an array)` : ''}, got ${got}`,
        );
      }
    const missingKeys = [...own.keys()].filter((k) => !source.has(k));
    const unexpectedKeys = [...source.keys()].filter((k) => !own.has(k));
    const mismatched: string[] = [];
    for (const [k, t] of own) {
      const src = source.get(k);
      if (src && !sameShape(src.shape, t.shape))
        mismatched.push(`size mismatch for ${k}: copying a tensor of shape [${src.shape}], the shape in the model is [${t.shape}]`);
    }
    const problems = [
      ...(strict && missingKeys.length ? [`Missing key(s): ${missingKeys.join(', ')}`] : []),
      ...(strict && unexpectedKeys.length ? [`Unexpected key(s): ${unexpectedKeys.join(', ')}`] : []),
      ...mismatched,
    ];
    if (problems.length) throw new Error(`Error(s) in loading state dict for ${this.name}:\n  ${problems.join('\n  ')}`);
    noGrad(() => {
      for (const [k, t] of own) {
        const src = source.get(k);
        if (src) t.copy_(src);
      }
    });
    return { missingKeys, unexpectedKeys };
  }

  /**
   * Casts floating-point parameters and buffers to a dtype, moves everything to a device, or puts
   * 4-D parameters in a memory format. Tensors keep their identity (optimizers stay valid).
   */
  to(target: DType | Device | MemoryFormat): this {
    const isDevice = target === 'cpu' || target.startsWith('cuda');
    const isFormat = target === 'channels_last' || target === 'contiguous';
    noGrad(() =>
      tidy(() => {
        for (const t of [...this.parameters(), ...this.buffers()]) {
          if (isDevice) t.setData(t.to(target as Device));
          else if (isFormat) {
            if (t.ndim === 4) t.setData(t.contiguous(target as MemoryFormat));
          } else if (t.isFloatingPoint) t.setData(t.to(target as DType));
        }
      }),
    );
    return this;
  }

  /** Calls fn on every module below and including this one (torchvision uses it to initialise). */
  apply(fn: (m: Module) => void): this {
    for (const m of this.modules()) fn(m);
    return this;
  }

  /** Frees every parameter and buffer below this module. */
  dispose(): void {
    for (const m of this.modules()) {
      for (const t of m.#parameters.values()) t?.dispose();
      for (const t of m.#buffers.values()) t?.dispose();
    }
  }

  /** Number of parameter elements. */
  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.numel(), 0);
  }
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i]);
}
