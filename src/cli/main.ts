#!/usr/bin/env node
// The lsr command line. Subcommands live in their own files; this one parses and dispatches.
import { fileURLToPath } from 'node:url';
import { type DistContext, contextFromEnv, joinGroup, launch, leaveGroup, splitLaunchArgs } from '../distributed/index.js';
import { compareCommand, demoCommand, distillCommand, evalCommand, predictCommand, trainCommand } from './commands.js';
import { weightsConvert, weightsInfo } from './weights.js';

const USAGE = `usage: lsr <command> [options]

commands:
  demo [options]               the main job: Fashion-MNIST, ResNet-20, hard labels against ε = 0.1,
                               a comparison report in runs/demo (about 6 minutes on 2 cores)
  train --data DIR|fashion-mnist --model resnet50 [--weights FILE] --smoothing 0.1 --epochs 10
        --batch-size 256 --lr 0.01 --optimizer sgd|adamw --scheduler cosine|step|onecycle|none --seed 0
        --image-size 224 --val-fraction 0.1 --workers 2 --out runs/NAME [--config FILE] [--resume]
        [--limit-per-class N] [--val-limit-per-class N] [--label-noise P] [--skip-bad-images] [--weight-decay W] [--threads N]
        [--loss cross-entropy|online-label-smoothing] [--ols-alpha 0.5] [--precision auto|fp32|bf16|fp64] [--sync-bn]
  compare [train options] --smoothing 0,0.1 [--label-noise 0.2] [--classes a,b,c]
                               one run per smoothing value, same seed and data order; report.html
  eval --run DIR [--data DIR|CSV|fashion-mnist-test] [--tta]
                                               accuracy, top-5, NLL, ECE, confusions, reliability
  predict --run DIR --data test.csv --out submission.csv [--tta]   Kaggle's image,label
  distill [train options] [--temperature 4] [--beta 0.5]   students of a hard-label and a smoothed
                               teacher (the distillation caveat of Müller et al. 2019)

data-parallel (train, compare, demo, distill, eval, predict), torchrun's conventions:
  --nproc N                    N worker processes on this machine (the cores are shared among them)
  --nnodes M --node-rank R --master-addr HOST --master-port P
                               the same command on each of M machines; rank 0's machine is HOST
  --dist-timeout S             how long a rank waits for the others before stopping (default 300)
  --sync-bn                    (train options) BatchNorm statistics over all ranks' batches
  --batch-size is the global batch, split evenly among the processes.
  A process started with torchrun's variables (WORLD_SIZE, RANK, MASTER_ADDR, …) joins that run.

  weights info FILE            keys, dtypes and shapes of a .safetensors or torch.save (.pth/.pt) file
  weights convert IN OUT       convert a weight file (.pth or .safetensors) to OUT.safetensors
  help                         this text`;

/** Set when this process is a rank of a data-parallel run. */
let rank: DistContext | null = null;

export async function main(argv: string[]): Promise<number> {
  const [command, sub, ...rest] = argv;
  const parallel: Record<string, (args: string[], ctx: DistContext | null) => Promise<number>> = {
    train: trainCommand, compare: compareCommand, eval: evalCommand, predict: predictCommand, demo: demoCommand, distill: distillCommand,
  };
  if (command !== undefined && parallel[command]) {
    const { launch: options, rest: args } = splitLaunchArgs(argv.slice(1));
    if (options) {
      if (contextFromEnv()) throw new Error('--nproc / --nnodes: this process is already a rank of a data-parallel run (WORLD_SIZE is set)');
      return launch(fileURLToPath(import.meta.url), [command, ...args], options);
    }
    rank = contextFromEnv();
    joinGroup(rank);
    const code = await parallel[command](args, rank);
    leaveGroup(rank);
    return code;
  }
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

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: Error) => {
    console.error(`lsr: ${rank && !/^rank \d/.test(e.message) ? `rank ${rank.rank}: ` : ''}${e.message}`);
    process.exitCode = 1;
    // A rank whose peers are gone must not wait on anything left in flight.
    if (rank) process.exit(1);
  },
);
