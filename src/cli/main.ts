#!/usr/bin/env node
// The lsr command line. Subcommands live in their own files; this one parses and dispatches.
import { compareCommand, demoCommand, distillCommand, evalCommand, predictCommand, trainCommand } from './commands.js';
import { weightsConvert, weightsInfo } from './weights.js';

const USAGE = `usage: lsr <command> [options]

commands:
  demo [options]               the main job: Fashion-MNIST, ResNet-20, hard labels against ε = 0.1,
                               a comparison report in runs/demo (2–5 minutes on 2 cores)
  train --data DIR|fashion-mnist --model resnet50 [--weights FILE] --smoothing 0.1 --epochs 10
        --batch-size 256 --lr 0.01 --optimizer sgd|adamw --scheduler cosine|step|none --seed 0
        --image-size 224 --val-fraction 0.1 --workers 2 --out runs/NAME [--config FILE] [--resume]
        [--limit-per-class N] [--label-noise P] [--skip-bad-images] [--weight-decay W] [--threads N]
        [--loss cross-entropy|online-label-smoothing] [--ols-alpha 0.5] [--precision auto|fp32|bf16]
  compare [train options] --smoothing 0,0.1 [--label-noise 0.2] [--classes a,b,c]
                               one run per smoothing value, same seed and data order; report.html
  eval --run DIR [--data DIR|CSV] [--tta]      accuracy, top-5, NLL, ECE, confusions, reliability
  predict --run DIR --data test.csv --out submission.csv [--tta]   Kaggle's image,label
  distill [train options] [--temperature 4] [--beta 0.5]   students of a hard-label and a smoothed
                               teacher (the distillation caveat of Müller et al. 2019)
  weights info FILE            keys, dtypes and shapes of a .safetensors or torch.save (.pth/.pt) file
  weights convert IN OUT       convert a weight file (.pth or .safetensors) to OUT.safetensors
  help                         this text`;

export async function main(argv: string[]): Promise<number> {
  const [command, sub, ...rest] = argv;
  const commands: Record<string, (args: string[]) => Promise<number>> = {
    train: trainCommand, compare: compareCommand, eval: evalCommand, predict: predictCommand, demo: demoCommand, distill: distillCommand,
  };
  if (command !== undefined && commands[command]) return commands[command](argv.slice(1));
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
    console.error(`lsr: ${e.message}`);
    process.exitCode = 1;
  },
);
