// The eval layer: metrics, calibration, the penultimate-layer picture, disputed labels (confident learning), the mistakes to picture (most confidently wrong, most confused). Imports the engine.
export * from './metrics.js';
export * from './features.js';
export * from './stats.js';
export * from './confident.js';
export * from './mistakes.js';
