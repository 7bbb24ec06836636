// The train layer: run configuration, data and model set-up, the training loop, checkpoints.
export * from './config.js';
export * from './checkpoint.js';
export { buildModel, loadDataset, pipelines, prepareData, withLabelNoise } from './setup.js';
export type { Classifier } from '../models/index.js';
export * from './registry.js';
export { collectOutputs, evalLoader, forwardIn, logitsIn, readMetrics, train } from './run.js';
export type { EpochMetrics, Outputs, TrainOptions, TrainResult } from './run.js';
