// The train layer: run configuration, registries, data and model set-up, the Trainer, checkpoints,
// inference over a dataset and trained runs loaded back.
export * from './config.js';
export * from './checkpoint.js';
export { buildModel, foldData, foldPlan, heldOut, loadDataset, prepareData, prepareRun, splitData, withLabelNoise } from './setup.js';
export type { FoldPlan, RunData, SplitData } from './setup.js';
export * from './recipe.js';
export type { Classifier } from '../models/index.js';
export * from './registry.js';
export {
  DATASETS,
  DEFAULT_DATASET,
  type DatasetEntry,
  registeredDataset,
  registeredTestSet,
} from './datasets.js';
export { type PlanContext, type RunPlan, describePrecision, planRun } from './plan.js';
export { RunSchedule } from './schedule.js';
export * from './objectives.js';
export { ModelEma } from './ema.js';
export { forwardIn, logitsIn, modelDevice, placeFor } from './precision.js';
export { collectOutputs, loadRun, predictLogits } from './inference.js';
export { Placement } from './placement.js';
export type { LoadedRun, Outputs } from './inference.js';
export {
  checkMemberClasses,
  disposeEnsemble,
  ensembleMembers,
  ensemblePredict,
  evaluateEnsemble,
  findRunFolders,
  isRunFolder,
} from './ensemble.js';
export type { EnsembleEvaluation, EnsembleMemberPrediction, EnsembleOptions, EnsemblePrediction, MetricGain } from './ensemble.js';
export { Trainer, progressLogger, readMetrics, train } from './trainer.js';
export { LR_FIND_DEFAULTS, checkSweep, lrFind, lrSweep, runSweep, smoothLosses, suggestLr } from './lr-find.js';
export type { LrFindOptions, LrFindResult, LrSuggestions } from './lr-find.js';
export { LossNotFiniteError } from './divergence.js';
export type { EpochMetrics, StepResult, StepSums, TrainOptions, TrainResult, TrainerCallbacks } from './trainer.js';
