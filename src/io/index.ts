// The io layer: weight files (safetensors, PyTorch .pth), atomic writes, JSON-lines logs and folder locks. Imports the engine only.
import { closeSync, openSync, readSync } from 'node:fs';
import type { Tensor } from '../engine/index.js';
import { type PthOptions, type TensorInfo, loadPth, readPthInfo } from './pth.js';
import { loadSafetensors } from './safetensors.js';

export { refuseOverwritingInput, removeStaleTemporaries, writeFileAtomic } from './atomic.js';
export { appendJsonLine, type JsonLines, readJsonLines, tornTailWarning } from './jsonl.js';
export { type FolderLock, LOCK_FILE, checkFolderLock, lockFolder, withFolderLock } from './lock.js';
export { loadSafetensors, parseSafetensors, saveSafetensors, serializeSafetensors } from './safetensors.js';
export type { SafetensorsFile } from './safetensors.js';
export { EXPANSION_FLOOR, EXPANSION_RATIO, loadPth, parsePth, readPthInfo } from './pth.js';
export type { PthOptions, TensorInfo } from './pth.js';
export { readZip } from './zip.js';
export type { ZipEntry } from './zip.js';

/**
 * Loads a state dict from a .safetensors or a torch.save (.pth/.pt) file, told apart by content.
 * `options` apply to torch.save files (safetensors files hold no views).
 */
export function loadWeights(path: string, options: PthOptions = {}): Map<string, Tensor> {
  return isZip(path) ? loadPth(path, options) : loadSafetensors(path).tensors;
}

/**
 * The keys, dtypes and shapes of a weight file. A torch.save file's tensors are not read (its
 * storages may be deflated: readPthInfo); a safetensors file is read whole, its size on disk.
 */
export function readWeightsInfo(path: string, options: PthOptions = {}): Map<string, TensorInfo> {
  if (isZip(path)) return readPthInfo(path, options);
  const { tensors } = loadSafetensors(path);
  const info = new Map([...tensors].map(([k, t]) => [k, { dtype: t.dtype, shape: t.shape }]));
  for (const t of tensors.values()) t.dispose();
  return info;
}

/** A zip archive (torch.save), told by its first bytes. */
function isZip(path: string): boolean {
  const head = Buffer.alloc(2);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, head, 0, 2, 0);
  } finally {
    closeSync(fd);
  }
  return head[0] === 0x50 && head[1] === 0x4b;
}
