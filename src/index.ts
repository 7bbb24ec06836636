// lsr's public API.
export * from './engine/index.js';
export * from './losses/index.js';
