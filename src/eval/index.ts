// The eval layer: metrics, calibration, the penultimate-layer picture, disputed labels (confident learning). Imports the engine.
export * from './metrics.js';
export * from './features.js';
export * from './stats.js';
export * from './confident.js';
