// `lsr weights info FILE` and `lsr weights convert IN OUT`.
import { extname } from 'node:path';
import { FLOAT_DTYPES, tidy } from '../engine/index.js';
import { type PthOptions, loadWeights, readWeightsInfo, saveSafetensors } from '../io/index.js';

export function weightsInfo(file: string, print: (line: string) => void = console.log, options: PthOptions = {}): void {
  // Metadata only: a .pth's storages are not inflated to list them (a deflate bomb costs nothing).
  const tensors = readWeightsInfo(file, options);
  // A loop, not Math.max(...keys): a file of 200,000 tensors would overflow the call stack.
  let width = 4;
  for (const k of tensors.keys()) width = Math.max(width, k.length);
  let elements = 0;
  let floating = 0;
  print(`${'name'.padEnd(width)}  ${'dtype'.padEnd(8)}  shape`);
  for (const [name, t] of tensors) {
    print(`${name.padEnd(width)}  ${t.dtype.padEnd(8)}  [${t.shape.join(', ')}]`);
    const numel = t.shape.reduce((a, b) => a * b, 1);
    elements += numel;
    if ((FLOAT_DTYPES as readonly string[]).includes(t.dtype)) floating += numel;
  }
  print(
    `${tensors.size} tensors, ${elements.toLocaleString('en-US')} elements (${floating.toLocaleString('en-US')} floating-point: the parameters and running statistics)`,
  );
}

export function weightsConvert(input: string, output: string, print: (line: string) => void = console.log, options: PthOptions = {}): void {
  if (extname(output) !== '.safetensors') throw new Error(`lsr weights convert: OUT must end in .safetensors (got '${output}')`);
  tidy(() => {
    const tensors = loadWeights(input, options);
    saveSafetensors(output, tensors, { format: 'pt', source: input });
    print(`wrote ${tensors.size} tensors to ${output}`);
  });
}
