// Data-parallel training across processes and machines on c10d (Gloo): where a process stands
// (torchrun's variables), the launcher, DDP's gradient averaging and SyncBatchNorm, and the
// gathering of sharded evaluation outputs. Imports the engine and nn only.
export * from './context.js';
export * from './ddp.js';
export * from './launch.js';
