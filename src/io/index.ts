// The io layer: weight files (safetensors, PyTorch .pth), atomic writes, JSON-lines logs and folder locks. Imports the engine only.
import { closeSync, openSync, readSync } from 'node:fs';
import type { Tensor } from '../engine/index.js';
import { type PthOptions, loadPth } from './pth.js';
import { loadSafetensors } from './safetensors.js';

export { refuseOverwritingInput, removeStaleTemporaries, writeFileAtomic } from './atomic.js';
export { appendJsonLine, type JsonLines, readJsonLines, tornTailWarning } from './jsonl.js';
export { type FolderLock, LOCK_FILE, checkFolderLock, lockFolder, withFolderLock } from './lock.js';
export { loadSafetensors, parseSafetensors, saveSafetensors, serializeSafetensors } from './safetensors.js';
export type { SafetensorsFile } from './safetensors.js';
export { EXPANSION_FLOOR, EXPANSION_RATIO, loadPth, parsePth } from './pth.js';
export type { PthOptions } from './pth.js';
export { readZip } from './zip.js';
export type { ZipEntry } from './zip.js';

/**
 * Loads a state dict from a .safetensors or a torch.save (.pth/.pt) file, told apart by content.
 * `options` apply to torch.save files (safetensors files hold no views).
 */
export function loadWeights(path: string, options: PthOptions = {}): Map<string, Tensor> {
  const head = Buffer.alloc(2);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, head, 0, 2, 0);
  } finally {
    closeSync(fd);
  }
  return head[0] === 0x50 && head[1] === 0x4b ? loadPth(path, options) : loadSafetensors(path).tensors;
}
