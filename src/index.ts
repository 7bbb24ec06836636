// lsr's public API.
export * from './engine/index.js';
export * from './losses/index.js';
export * as nn from './nn/index.js';
export * as models from './models/index.js';
export * as io from './io/index.js';
export * as optim from './optim/index.js';
export * as data from './data/index.js';
export * as evaluation from './eval/index.js';
export * as training from './train/index.js';
export * as distributed from './distributed/index.js';
export * as experiments from './experiments/index.js';
