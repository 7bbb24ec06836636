// The data layer: sources, splits, transforms, the loader, mixup, TTA. Imports engine, losses, io.
export { Rng } from './rng.js';
export { ClassVocabulary } from './vocab.js';
export * from './sources.js';
export { kFold, perClassSubset, stratifiedSplit } from './split.js';
export { type RawImage, decode, encodeJpeg, thumbnailPng } from './image.js';
export * from './transforms.js';
export {
  AUGMENT_OPS,
  applyAugmentOp,
  drawRandAugment,
  drawTrivialAugment,
  randAugment,
  randAugmentSpace,
  trivialAugmentWide,
  trivialAugmentWideSpace,
} from './autoaugment.js';
export type { AugmentDraw, AugmentOp, AugmentationSpace, OpMagnitudes, RandAugmentOptions } from './autoaugment.js';
export { DataLoader } from './loader.js';
export type { Batch, LoaderOptions } from './loader.js';
export { Mixup } from './mixup.js';
export type { MixupOptions } from './mixup.js';
export { flipAveragedProbabilities } from './tta.js';
export { DeviceLoader, DeviceNormalizer, batchOn, normalizationTable, prefetchTo } from './device.js';
export type { DeviceLoaderOptions, StagedBatch } from './device.js';
