// The layers ResNets are built from, with PyTorch's parameter names, shapes and default
// initialisation (reset_parameters), in torch.nn's argument order.
import { F, type Tensor, empty, ones, tensor, zeros } from '../engine/index.js';
import { fans, kaimingUniform_, uniform_ } from './init.js';
import { Module } from './module.js';

type IntOr2 = number | [number, number];
const pair = (v: IntOr2): [number, number] => (typeof v === 'number' ? [v, v] : v);

/** PyTorch's default for Conv and Linear: kaiming_uniform(a=√5) weights, U(±1/√fan_in) bias. */
function resetLinearLike(weight: Tensor, bias: Tensor | null): void {
  kaimingUniform_(weight, { a: Math.sqrt(5) });
  if (bias) {
    const bound = 1 / Math.sqrt(fans(weight)[0]);
    uniform_(bias, -bound, bound);
  }
}

export interface Conv2dOptions {
  stride?: IntOr2;
  padding?: IntOr2;
  dilation?: IntOr2;
  groups?: number;
  bias?: boolean;
}
export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: IntOr2,
    o: Conv2dOptions = {},
  ) {
    super();
    this.groups = o.groups ?? 1;
    if (inChannels % this.groups || outChannels % this.groups)
      throw new Error(`Conv2d: in (${inChannels}) and out (${outChannels}) channels must be divisible by groups (${this.groups})`);
    [this.stride, this.padding, this.dilation] = [pair(o.stride ?? 1), pair(o.padding ?? 0), pair(o.dilation ?? 1)];
    this.weight = this.registerParameter('weight', empty([outChannels, inChannels / this.groups, ...pair(kernelSize)]));
    this.bias = this.registerParameter('bias', o.bias === false ? null : empty([outChannels]));
    resetLinearLike(this.weight, this.bias);
  }
  forward(x: Tensor): Tensor {
    return F.conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups });
  }
}

export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    o: { bias?: boolean } = {},
  ) {
    super();
    this.weight = this.registerParameter('weight', empty([outFeatures, inFeatures]));
    this.bias = this.registerParameter('bias', o.bias === false ? null : empty([outFeatures]));
    resetLinearLike(this.weight, this.bias);
  }
  forward(x: Tensor): Tensor {
    return F.linear(x, this.weight, this.bias);
  }
}

export interface BatchNormOptions {
  eps?: number;
  /** null: a cumulative moving average (1 / batches seen), as PyTorch's momentum=None. */
  momentum?: number | null;
  affine?: boolean;
  trackRunningStats?: boolean;
}
export class BatchNorm2d extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly runningMean: Tensor | null;
  readonly runningVar: Tensor | null;
  readonly numBatchesTracked: Tensor | null;
  readonly eps: number;
  readonly momentum: number | null;

  /** `o.from`: take over another BatchNorm's parameters and statistics (the tensors themselves, not copies). */
  constructor(
    readonly numFeatures: number,
    o: BatchNormOptions & { from?: BatchNorm2d } = {},
  ) {
    super();
    const src = o.from;
    this.eps = src?.eps ?? o.eps ?? 1e-5;
    this.momentum = src ? src.momentum : o.momentum === undefined ? 0.1 : o.momentum;
    const affine = src ? src.weight !== null : (o.affine ?? true);
    const track = src ? src.runningMean !== null : (o.trackRunningStats ?? true);
    this.weight = this.registerParameter('weight', src ? src.weight : affine ? ones([numFeatures]) : null);
    this.bias = this.registerParameter('bias', src ? src.bias : affine ? zeros([numFeatures]) : null);
    this.runningMean = this.registerBuffer('running_mean', src ? src.runningMean : track ? zeros([numFeatures]) : null);
    this.runningVar = this.registerBuffer('running_var', src ? src.runningVar : track ? ones([numFeatures]) : null);
    this.numBatchesTracked = this.registerBuffer('num_batches_tracked', src ? src.numBatchesTracked : track ? tensor(0, { dtype: 'int64' }) : null);
    if (src) this.train(src.training);
  }

  forward(x: Tensor): Tensor {
    if (x.ndim !== 4) throw new Error(`${this.name}: expected 4D input (got ${x.ndim}D input of shape [${x.shape}])`);
    if (x.shape[1] !== this.numFeatures) throw new Error(`${this.name}: expected ${this.numFeatures} channels, got input of shape [${x.shape}]`);
    // PyTorch's check, which libtorch's batch_norm lacks: one value per channel has no variance
    // (the running variance would become NaN).
    if (this.training && x.shape[0]! * x.shape[2]! * x.shape[3]! === 1)
      throw new Error(`${this.name}: expected more than 1 value per channel when training, got input of shape [${x.shape}]`);
    let factor = this.momentum ?? 0;
    if (this.training && this.numBatchesTracked) {
      this.numBatchesTracked.add_(1);
      factor = this.momentum ?? 1 / this.numBatchesTracked.item();
    }
    // Batch statistics in training, or always when no running statistics are kept.
    if (this.training || !this.runningMean)
      return this.normalizeOverBatch(x, this.training ? this.runningMean : null, this.training ? this.runningVar : null, factor);
    return F.batchNorm(x, this.runningMean, this.runningVar!, { weight: this.weight, bias: this.bias, training: false, momentum: factor, eps: this.eps });
  }

  /** Normalises with the batch's statistics, folding them into the running ones when given. */
  protected normalizeOverBatch(x: Tensor, runningMean: Tensor | null, runningVar: Tensor | null, momentum: number): Tensor {
    return F.batchNorm(x, runningMean!, runningVar!, { weight: this.weight, bias: this.bias, training: true, momentum, eps: this.eps });
  }
}

/**
 * BatchNorm whose training statistics are over every rank's batch of a data-parallel run
 * (PyTorch's SyncBatchNorm); it needs a process group. Evaluation uses the running statistics.
 */
export class SyncBatchNorm extends BatchNorm2d {
  protected override normalizeOverBatch(x: Tensor, runningMean: Tensor | null, runningVar: Tensor | null, momentum: number): Tensor {
    return F.syncBatchNorm(x, runningMean!, runningVar!, { weight: this.weight, bias: this.bias, momentum, eps: this.eps });
  }
}

/**
 * Every BatchNorm2d below `model` replaced by a SyncBatchNorm that holds its parameters and
 * statistics (PyTorch's SyncBatchNorm.convert_sync_batchnorm, in place); returns how many.
 */
export function convertSyncBatchNorm(model: Module): number {
  let n = 0;
  for (const parent of [...model.modules()])
    for (const [name, child] of [...parent.namedChildren()])
      if (child instanceof BatchNorm2d && !(child instanceof SyncBatchNorm)) {
        parent.replaceModule(name, new SyncBatchNorm(child.numFeatures, { from: child }), { dispose: false });
        n++;
      }
  return n;
}

export class ReLU extends Module {
  constructor(readonly inplace = false) {
    super();
  }
  forward(x: Tensor): Tensor {
    return this.inplace ? x.relu_() : x.relu();
  }
}

export class MaxPool2d extends Module {
  constructor(
    readonly kernelSize: IntOr2,
    readonly o: { stride?: IntOr2; padding?: IntOr2; dilation?: IntOr2; ceilMode?: boolean } = {},
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.maxPool2d(x, this.kernelSize, this.o);
  }
}

export class AvgPool2d extends Module {
  constructor(
    readonly kernelSize: IntOr2,
    readonly o: { stride?: IntOr2; padding?: IntOr2; ceilMode?: boolean; countIncludePad?: boolean } = {},
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.avgPool2d(x, this.kernelSize, this.o);
  }
}

export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: IntOr2) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.adaptiveAvgPool2d(x, this.outputSize);
  }
}

export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (!(p >= 0 && p <= 1)) throw new RangeError(`Dropout: p must be in [0, 1] (got ${p})`);
  }
  forward(x: Tensor): Tensor {
    return F.dropout(x, this.p, this.training);
  }
}

export class Flatten extends Module {
  constructor(
    readonly startDim = 1,
    readonly endDim = -1,
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    return x.flatten(this.startDim, this.endDim);
  }
}

export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

/** A list of children named '0', '1', ... without a forward of its own. */
export class ModuleList extends Module {
  constructor(items: Module[] = []) {
    super();
    for (const m of items) this.append(m);
  }
  append(m: Module): this {
    this.registerModule(String(this.length), m);
    return this;
  }
  /** The children in order (replaceModule('1', m) included). */
  get items(): Module[] {
    return [...this.namedChildren()].map(([, m]) => m);
  }
  get length(): number {
    return [...this.namedChildren()].length;
  }
  forward(_x: Tensor): Tensor {
    throw new Error(`${this.name} has no forward(): iterate over its items`);
  }
}

/** Children named '0', '1', ...; forward runs them in order. */
export class Sequential extends ModuleList {
  constructor(...layers: Module[]) {
    super(layers);
  }
  override forward(x: Tensor): Tensor {
    return this.items.reduce((h, m) => m.forward(h), x);
  }
}
