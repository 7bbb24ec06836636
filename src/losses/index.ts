// The losses layer: label smoothing in its forms. Imports the engine only.
export { LSR, LSR2 } from './seed.js';
export type { LSR2Reduction } from './seed.js';
export { crossEntropy, CrossEntropyLoss } from './cross-entropy.js';
export type { CrossEntropyOptions } from './cross-entropy.js';
export { OnlineLabelSmoothing, confidencePenalty, distillationLoss, mixupTarget, softTargetCrossEntropy } from './variants.js';
export type { ConfidencePenaltyOptions, DistillationOptions, OnlineLabelSmoothingState } from './variants.js';
