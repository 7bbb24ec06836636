// The models, optimizers, learning-rate schedules and losses a run can name (--model, --optimizer,
// --scheduler, --loss). Adding one is its own file in models/, optim/ or losses/ and one
// registration line here.
import { BadInputError, type Tensor } from '../engine/index.js';
import {
  type Classifier,
  CifarResNet,
  resnet18,
  resnet34,
  resnet50,
  resnet101,
  resnet152,
  resnext50_32x4d,
  wide_resnet101_2,
  wide_resnet50_2,
} from '../models/index.js';
import { type Objective, type ObjectiveOptions, OnlineLabelSmoothingObjective, SmoothedCrossEntropy } from './objectives.js';
import { AdamW, CosineAnnealingLR, type LRScheduler, OneCycleLR, type Optimizer, RMSprop, SGD, StepLR } from '../optim/index.js';

export interface ModelEntry {
  build(o: { numClasses: number; inChannels: number }): Classifier;
  /** Made for small images (He et al.'s CIFAR ResNets): any channel count, the small-image recipe. */
  smallImages?: boolean;
}

/** What a run's optimizer is built from (the run's --lr, --momentum, --weight-decay). */
export interface OptimizerHyperparameters {
  lr: number;
  momentum: number;
  weightDecay: number;
}
export type OptimizerFactory = (params: Tensor[], h: OptimizerHyperparameters) => Optimizer<{ lr: number }>;

export interface SchedulerEntry {
  /** Stepped after every batch (true) or every epoch. */
  perBatch: boolean;
  build(optimizer: Optimizer<{ lr: number }>, run: { epochs: number; batchesPerEpoch: number; lr: number }): LRScheduler | null;
}

export class Registry<T> {
  readonly #entries = new Map<string, T>();
  constructor(readonly option: string) {}
  register(name: string, entry: T): void {
    if (this.#entries.has(name)) throw new Error(`${this.option} '${name}' is already registered`);
    this.#entries.set(name, entry);
  }
  get names(): string[] {
    return [...this.#entries.keys()];
  }
  has(name: string): boolean {
    return this.#entries.has(name);
  }
  get(name: string): T {
    const e = this.#entries.get(name);
    if (e === undefined) throw new BadInputError(`${this.option} must be one of ${this.names.join(', ')}, got ${JSON.stringify(name)}`);
    return e;
  }
}

/** A run's loss from its classes and options (a teacher's distillation is chosen by the command, not here). */
export type LossFactory = (o: ObjectiveOptions) => Objective;

export const MODELS = new Registry<ModelEntry>('--model');
export const OPTIMIZERS = new Registry<OptimizerFactory>('--optimizer');
export const SCHEDULERS = new Registry<SchedulerEntry>('--scheduler');
export const LOSSES = new Registry<LossFactory>('--loss');

// torchvision's ImageNet ResNets take 3-channel images.
const imagenet = (make: (o: { numClasses: number }) => Classifier): ModelEntry => ({
  build: ({ numClasses, inChannels }) => {
    if (inChannels !== 3) throw new BadInputError(`this --model takes 3-channel images, not ${inChannels}`);
    return make({ numClasses });
  },
});
const cifar = (depth: number): ModelEntry => ({ build: (o) => new CifarResNet(depth, o), smallImages: true });

MODELS.register('resnet18', imagenet(resnet18));
MODELS.register('resnet34', imagenet(resnet34));
MODELS.register('resnet50', imagenet(resnet50));
MODELS.register('resnet101', imagenet(resnet101));
MODELS.register('resnet152', imagenet(resnet152));
MODELS.register('resnext50_32x4d', imagenet(resnext50_32x4d));
MODELS.register('wide_resnet50_2', imagenet(wide_resnet50_2));
MODELS.register('wide_resnet101_2', imagenet(wide_resnet101_2));
MODELS.register('resnet20', cifar(20));
MODELS.register('resnet32', cifar(32));
MODELS.register('resnet56', cifar(56));

OPTIMIZERS.register('sgd', (params, h) => new SGD(params, { lr: h.lr, momentum: h.momentum, weightDecay: h.weightDecay }));
OPTIMIZERS.register('adamw', (params, h) => new AdamW(params, { lr: h.lr, weightDecay: h.weightDecay }));
// PyTorch's RMSprop defaults (alpha 0.99, eps 1e-8, no momentum: --momentum is SGD's).
OPTIMIZERS.register('rmsprop', (params, h) => new RMSprop(params, { lr: h.lr, weightDecay: h.weightDecay }));

SCHEDULERS.register('cosine', { perBatch: false, build: (o, r) => new CosineAnnealingLR(o, r.epochs) });
SCHEDULERS.register('step', { perBatch: false, build: (o, r) => new StepLR(o, Math.max(1, Math.round(r.epochs / 3)), 0.1) });
SCHEDULERS.register('onecycle', { perBatch: true, build: (o, r) => new OneCycleLR(o, r.lr, { totalSteps: r.epochs * r.batchesPerEpoch }) });
SCHEDULERS.register('none', { perBatch: false, build: () => null });

LOSSES.register('cross-entropy', (o) => new SmoothedCrossEntropy(o.smoothing));
LOSSES.register('online-label-smoothing', (o) => new OnlineLabelSmoothingObjective(o));
