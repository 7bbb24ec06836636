// Why a run's loss stopped being finite, from what the run knows: its recipe (the normalisation's
// std, the crop's padding against the image side), its rate against the usual one, and whether
// any update had been made. "Lower the learning rate" is only the answer when nothing else is:
// 1-px images under crop-flip diverge at any rate.
import type * as data from '../data/index.js';
import { type TrainConfig, defaultLearningRate } from './config.js';

/** The loss stopped being finite: the run stopped there, its weights as before that step (the message says where, and why it likely happened). */
export class LossNotFiniteError extends Error {
  constructor(
    message: string,
    /** The loss that was read (NaN or ±Infinity). */
    readonly loss: number,
  ) {
    super(message);
    this.name = 'LossNotFiniteError';
  }
}

export interface DivergenceFacts {
  /** The run's configuration, its --lr resolved. */
  config: TrainConfig;
  /** The training pipeline: its transforms and normalisation. */
  pipeline: data.Pipeline;
  /** The side of the images the model sees. */
  imageSize: number;
  /** No optimizer step had been taken when the loss was read: the rate cannot be the cause. */
  beforeAnyUpdate: boolean;
}

/** A std below this divides pixels by ~0: the images hardly vary (all one colour). */
const DEGENERATE_STD = 1e-3;
/** A rate this many times the usual one for the optimizer and batch is far outside any recipe. */
const ABSURD_RATE = 10;
/** Images at most this many pixels a side: a ResNet reduces them to 1 px at once. */
const TINY_SIDE = 4;

/** The likely causes, most likely first, each a clause with what to do; never empty. */
export function likelyCauses(f: DivergenceFacts): string[] {
  const { config: c, pipeline, imageSize: side } = f;
  const causes: string[] = [];
  const std = Math.min(...pipeline.std);
  if (std < DEGENERATE_STD)
    causes.push(
      `the training images hardly vary (the normalisation's std is ${Number(std.toPrecision(2))}), so the recipe divides by ~0 and any pixel that differs (zero padding, an augmentation) becomes huge: check the images, or use --normalize imagenet or none`,
    );
  const crop = pipeline.transforms.find((t): t is Extract<data.Transform, { op: 'randomCrop' }> => t.op === 'randomCrop');
  const padding = crop?.padding ?? 0;
  if (side <= TINY_SIDE || (crop && 2 * padding >= side))
    causes.push(
      `the images are ${side}×${side} px${crop ? ` and the crop pads them by ${padding} px, so most crops hold little or no image` : ''}: a batch of near-identical inputs gives BatchNorm a spread of ~0 to divide by; use larger images (--image-size 32 upscales them)${crop ? ', or --augment none or flip' : ''}`,
    );
  const usual = defaultLearningRate({ ...c, lr: 0 });
  if (!f.beforeAnyUpdate && c.lr >= ABSURD_RATE * usual)
    causes.push(
      `--lr ${c.lr} is ${Math.round(c.lr / usual)}× the usual rate for --optimizer ${c.optimizer} at this batch (${Number(usual.toPrecision(3))}): lower it`,
    );
  if (f.beforeAnyUpdate)
    causes.push(
      `it happened before any update, so the learning rate is not the cause: the inputs or the initial weights are${c.weights ? ` (--weights ${c.weights})` : ''}`,
    );
  if (causes.length === 0) causes.push('nothing in the data or the recipe explains it: try a lower --lr');
  return causes;
}
