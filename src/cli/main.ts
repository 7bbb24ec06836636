#!/usr/bin/env node
// The lsr command line. Subcommands live in their own files; this one parses and dispatches.
import { weightsConvert, weightsInfo } from './weights.js';

const USAGE = `usage: lsr <command> [options]

commands:
  weights info FILE            keys, dtypes and shapes of a .safetensors or torch.save (.pth/.pt) file
  weights convert IN OUT       convert a weight file (.pth or .safetensors) to OUT.safetensors
  help                         this text`;

export function main(argv: string[]): number {
  const [command, sub, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    console.log(USAGE);
    return 0;
  }
  if (command === 'weights' && sub === 'info' && rest.length === 1) {
    weightsInfo(rest[0]!);
    return 0;
  }
  if (command === 'weights' && sub === 'convert' && rest.length === 2) {
    weightsConvert(rest[0]!, rest[1]!);
    return 0;
  }
  console.error(`lsr: unknown command '${argv.join(' ')}'\n\n${USAGE}`);
  return 2;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (e) {
  console.error(`lsr: ${(e as Error).message}`);
  process.exitCode = 1;
}
