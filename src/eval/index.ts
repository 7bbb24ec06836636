// The eval layer: metrics, calibration, the penultimate-layer picture. Imports the engine.
export * from './metrics.js';
export * from './features.js';
export * from './stats.js';
