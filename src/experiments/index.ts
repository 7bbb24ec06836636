// The experiments layer: the seed's comparison of label-smoothing values and the distillation
// caveat, run from code as `lsr compare` and `lsr distill` run them (the commands only parse their
// options, call these and print). One seeds × settings loop (runGrid) serves both; the analysis
// (validation outputs → metrics, statistics over seeds), the readings and the reports are their own
// modules. Imports train, eval, report and the floors below them.
export { compare, type CompareOptions, type ComparisonResult } from './compare.js';
export { distill, DISTILL_DEFAULTS, type DistillOptions, type DistillationResult } from './distill.js';
export {
  type ComparisonRun,
  type DistillationRun,
  type DistillationSetting,
  type RunAnalysis,
  type SeedDifference,
  type SeedSummary,
  analyseRun,
  summariseDistillation,
  summariseSeeds,
} from './analysis.js';
export { type ExperimentOptions, type GridCell, experimentLog, refuseRepeats, runGrid, withExperimentLock } from './grid.js';
export { type MetricName, claimVerdict, describeDifference, distillationReading, formatMetric, formatSpread, readings, replicatesText } from './prose.js';
export { COMPARISON_TITLE, GALLERY_SIZE, type ComparisonReportInput, type GalleryImage, writeComparisonReport } from './compare-report.js';
export { DISTILLATION_TITLE, type DistillationReportInput, writeDistillationReport } from './distill-report.js';
export { type WrittenFigure, writeFigure, writeSvgFigure } from './figures.js';
export {
  type CrossValidateOptions,
  type CrossValidationResult,
  type FoldRun,
  type HeldOutPrediction,
  type OutOfFold,
  crossValidate,
  predictHeldOut,
  trainFold,
  writeOutOfFold,
} from './crossval.js';
