// What training, evaluation and the analysis need of a model: a penultimate representation, the
// linear head on it, and a way to replace the head for another label set.
import type { Tensor } from '../engine/index.js';
import type { Linear, Module } from '../nn/index.js';

export interface Classifier extends Module {
  /** The classifier head: logits = fc(features(x)). */
  fc: Linear;
  /** The penultimate representation: the pooled, flattened input of the head. */
  features(x: Tensor): Tensor;
  forward(x: Tensor): Tensor;
  /** A new head for `numClasses` (fine-tuning), initialised as PyTorch's Linear. */
  resetClassifier(numClasses: number): Linear;
}
