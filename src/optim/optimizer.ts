// The optimizer base: parameter groups with their own options (PyTorch's param_groups), per-
// parameter state, zeroGrad, and state dicts in PyTorch's layout (parameters by position).
import { type Device, type Tensor, keep, noGrad, tidy } from '../engine/index.js';

export type ParamGroupInput<O> = Partial<O> & { params: Tensor[] };
export type ParamGroup<O> = O & { params: Tensor[]; initialLr: number };
export type ParamState = Record<string, Tensor | number>;

/** Options of the optimizer as a whole (not of a parameter group, nor saved in its state dict). */
export interface OptimizerOptions {
  /**
   * PyTorch's name: update each parameter group with a few multi-tensor native calls (one set per
   * device and dtype) instead of a few calls per parameter. Default true; false runs the
   * per-parameter code. Both keep the same state; on the CPU, where libtorch's multi-tensor ops run
   * the per-tensor ones, they give the same bits (CUDA's fused kernels may round differently).
   */
  foreach?: boolean;
}

export interface OptimizerStateDict<O> {
  state: Map<number, ParamState>;
  paramGroups: Array<O & { params: number[]; initialLr: number }>;
}

export abstract class Optimizer<O extends { lr: number }> {
  readonly paramGroups: ParamGroup<O>[];
  protected readonly state = new Map<Tensor, ParamState>();
  /** Multi-tensor steps (updateForeach) rather than one parameter at a time (update). */
  readonly foreach: boolean;

  constructor(params: Tensor[] | ParamGroupInput<O>[], defaults: O, options: OptimizerOptions = {}) {
    this.foreach = options.foreach ?? true;
    const groups: ParamGroupInput<O>[] =
      params.length > 0 && !('params' in (params[0] as object)) ? [{ params: params as Tensor[] } as ParamGroupInput<O>] : (params as ParamGroupInput<O>[]);
    const seen = new Set<Tensor>();
    this.paramGroups = groups.map((g, i) => {
      for (const p of g.params) {
        if (seen.has(p)) throw new Error(`${this.constructor.name}: a parameter appears in more than one group (group ${i})`);
        seen.add(p);
      }
      const group = { ...defaults, ...g } as ParamGroup<O>;
      group.initialLr ??= group.lr;
      this.validate(group, i);
      return group;
    });
    if (seen.size === 0) throw new Error(`${this.constructor.name}: got an empty parameter list`);
  }

  /** Checks one group's options; throws naming the option and group. */
  protected abstract validate(group: ParamGroup<O>, index: number): void;
  /** Updates one parameter that has a gradient; runs under noGrad inside a tidy scope. */
  protected abstract update(p: Tensor, grad: Tensor, group: ParamGroup<O>, state: ParamState): void;
  /**
   * Updates parameters of one group that have gradients and share a device and dtype, all at once;
   * runs under noGrad inside a tidy scope. Must give what update() gives each of them; this default
   * calls it for each.
   */
  protected updateForeach(params: Tensor[], grads: Tensor[], group: ParamGroup<O>, states: ParamState[]): void {
    for (const [i, p] of params.entries()) this.update(p, grads[i]!, group, states[i]!);
  }

  step(): void {
    noGrad(() => {
      for (const group of this.paramGroups) {
        if (this.foreach) {
          tidy(() => this.#stepForeach(group));
          continue;
        }
        for (const p of group.params)
          tidy(() => {
            const grad = p.grad;
            if (!grad) return;
            let state = this.state.get(p);
            if (!state) this.state.set(p, (state = {}));
            this.update(p, grad, group, state);
          });
      }
    });
  }

  // As PyTorch's _group_tensors_by_device_and_dtype: a multi-tensor op takes tensors of one kind.
  #stepForeach(group: ParamGroup<O>): void {
    const lists = new Map<string, { params: Tensor[]; grads: Tensor[]; states: ParamState[] }>();
    for (const p of group.params) {
      const grad = p.grad;
      if (!grad) continue;
      let state = this.state.get(p);
      if (!state) this.state.set(p, (state = {}));
      const key = `${p.device}/${p.dtype}`;
      let l = lists.get(key);
      if (!l) lists.set(key, (l = { params: [], grads: [], states: [] }));
      l.params.push(p);
      l.grads.push(grad);
      l.states.push(state);
    }
    for (const l of lists.values()) this.updateForeach(l.params, l.grads, group, l.states);
  }

  /** Keeps a state tensor beyond the step's scope, replacing (and freeing) the previous one. */
  protected setState(state: ParamState, key: string, t: Tensor): Tensor {
    const old = state[key];
    keep(t);
    state[key] = t;
    if (typeof old === 'object' && old !== t) old.dispose();
    return t;
  }

  /** Drops every gradient (PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    for (const g of this.paramGroups) for (const p of g.params) p.grad = undefined;
  }

  *#indexed(): Generator<[number, Tensor]> {
    let i = 0;
    for (const g of this.paramGroups) for (const p of g.params) yield [i++, p];
  }

  /** Copies of the state, with parameters named by their position across groups, as PyTorch does. */
  stateDict(): OptimizerStateDict<O> {
    const state = new Map<number, ParamState>();
    for (const [i, p] of this.#indexed()) {
      const s = this.state.get(p);
      if (s) state.set(i, Object.fromEntries(Object.entries(s).map(([k, v]) => [k, typeof v === 'number' ? v : keep(v.clone())])));
    }
    let i = 0;
    const paramGroups = this.paramGroups.map(
      ({ params, ...rest }) => ({ ...rest, params: params.map(() => i++) }) as O & { params: number[]; initialLr: number },
    );
    return { state, paramGroups };
  }

  loadStateDict(sd: OptimizerStateDict<O>): void {
    if (sd.paramGroups.length !== this.paramGroups.length)
      throw new Error(`${this.constructor.name}.loadStateDict: ${sd.paramGroups.length} parameter groups, this optimizer has ${this.paramGroups.length}`);
    sd.paramGroups.forEach((g, i) => {
      if (g.params.length !== this.paramGroups[i]!.params.length)
        throw new Error(
          `${this.constructor.name}.loadStateDict: group ${i} has ${g.params.length} parameters, this optimizer's has ${this.paramGroups[i]!.params.length}`,
        );
    });
    sd.paramGroups.forEach((g, i) => {
      const { params: _, ...options } = g;
      Object.assign(this.paramGroups[i]!, options);
    });
    for (const [i, p] of this.#indexed()) {
      const s = sd.state.get(i);
      const old = this.state.get(p);
      if (old) for (const v of Object.values(old)) if (typeof v === 'object') v.dispose();
      if (!s) {
        this.state.delete(p);
        continue;
      }
      const copy: ParamState = {};
      for (const [k, v] of Object.entries(s)) {
        if (typeof v === 'number') copy[k] = v;
        else {
          if (k !== 'step' && v.shape.join() !== p.shape.join())
            throw new Error(`${this.constructor.name}.loadStateDict: state '${k}' of parameter ${i} has shape [${v.shape}], the parameter [${p.shape}]`);
          // The parameter's device too: a checkpoint written on the CPU resumes on a GPU and back.
          copy[k] = keep(
            tidy(() => {
              const onDevice = v.to(p.device as Device);
              return onDevice.to(p.dtype).clone();
            }),
          );
        }
      }
      this.state.set(p, copy);
    }
  }

  dispose(): void {
    for (const s of this.state.values()) for (const v of Object.values(s)) if (typeof v === 'object') v.dispose();
    this.state.clear();
  }
}

export function checkNonNegative(name: string, value: number, group: number, what = 'must be ≥ 0'): void {
  if (!(Number.isFinite(value) && value >= 0)) throw new Error(`invalid ${name} ${value} in parameter group ${group}: ${what}`);
}
