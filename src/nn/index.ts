// The nn layer: Module and the layers models are built from. Imports the engine only.
export { Module } from './module.js';
export type { StateDict, LoadResult } from './module.js';
export * from './layers.js';
export * as init from './init.js';
