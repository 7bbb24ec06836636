// The option table of every lsr command: the parser, `lsr <command> --help`, `lsr help` and
// docs/cli.md all read them.
import { DEFAULT_TIMEOUT_S } from '../distributed/index.js';
import { GALLERY_SIZE } from '../experiments/index.js';
import { CONFIG_HELP, DEFAULTS, DEFAULT_DATASET, type TrainConfig, configFrom, kebab } from '../train/index.js';
import { type CommandSpec, type OptionTable, optionsOf, parseCommandLine } from './options.js';

/** The run's configuration as options, with `base`'s values as the defaults shown. */
function configOptions(base: TrainConfig, o: { smoothingList?: boolean } = {}): OptionTable {
  const table: OptionTable = {};
  for (const [key, { help, value, shown }] of Object.entries(CONFIG_HELP) as Array<[keyof TrainConfig, (typeof CONFIG_HELP)[keyof TrainConfig]]>) {
    const d = base[key];
    if (typeof d === 'boolean') table[kebab(key)] = { kind: 'boolean', help };
    else
      table[kebab(key)] = {
        kind: 'string',
        help,
        value,
        range: CONFIG_HELP[key].range,
        // A machine-dependent default is described, unless this command sets its own (the demo's workers).
        default: shown !== undefined && d === DEFAULTS[key] ? shown : d === null ? undefined : String(d),
      };
  }
  if (o.smoothingList) table.smoothing = { kind: 'string', help: 'the label-smoothing values to compare, one run each', value: 'LIST', default: '0,0.1' };
  table.config = { kind: 'string', help: 'a JSON file of these options (camelCase or kebab-case keys); options given here win', value: 'FILE' };
  return table;
}

export const LAUNCH_OPTIONS: OptionTable = {
  nproc: { kind: 'string', help: 'worker processes on this machine (the cores are shared among them)', value: 'N', default: '1' },
  nnodes: { kind: 'string', help: 'machines taking part (the same command on each)', value: 'M', default: '1' },
  'node-rank': { kind: 'string', help: "this machine's place among them", value: 'R', default: '0' },
  'master-addr': { kind: 'string', help: 'the address of the machine with --node-rank 0', value: 'HOST', default: '127.0.0.1' },
  'master-port': { kind: 'string', help: 'its rendezvous port (needed with --nnodes > 1)', value: 'P' },
  'dist-timeout': { kind: 'string', help: 'how long a rank waits for the others before stopping', value: 'S', default: String(DEFAULT_TIMEOUT_S) },
};
const launchGroup = { heading: "data-parallel (torchrun's conventions; --batch-size is the global batch)", options: LAUNCH_OPTIONS };

const OVERWRITE = { kind: 'boolean', help: 'start afresh in an --out that already holds a run (otherwise refused)' } as const;
const EXPANDED_VIEWS = {
  kind: 'boolean',
  help: 'read views that materialise to more than 64× their storage and 64 MiB (refused by default: a few bytes of stride-0 view can ask for gigabytes)',
} as const;
const RESUME_COMPARISON = {
  kind: 'boolean',
  help: 'continue an interrupted comparison in --out: finished runs are kept as they are, an unfinished one resumes, the rest train; then the report',
} as const;
const CLASSES = { kind: 'string', help: 'the three classes of the penultimate-layer projection', value: 'A,B,C' } as const;
const GALLERY = {
  kind: 'string',
  help: "the report's galleries: each ε's most confidently wrong validation images (with --folds, also its most confidently disputed labels), with every ε's prediction of the same images; 0: none",
  value: 'N',
  default: String(GALLERY_SIZE),
  range: { integer: true, min: 0, max: 200 },
} as const;
const SEEDS = {
  kind: 'string',
  help: 'train each setting once per seed: a list (0,1,2) or a count (3: seeds 0, 1, 2); the report and summary.json give mean ± sd and paired differences with 95% intervals',
  value: 'LIST|N',
} as const;

const RUN_OPTIONS: OptionTable = {
  run: {
    kind: 'string',
    help: 'an lsr train output folder; several (the option repeated, or A,B), or a folder of run folders (a k-fold run, a comparison), make an ensemble: the mean of their probabilities',
    value: 'DIR',
    multiple: true,
  },
  checkpoint: { kind: 'string', help: 'which checkpoint of the run (default: best; last for a run without validation)', value: 'NAME' },
  tta: { kind: 'boolean', help: 'average the probabilities of each image and its mirror' },
  device: {
    kind: 'string',
    help: 'auto (the first CUDA device when libtorch sees one, else cpu), cpu, cuda or cuda:N: a run trained on either evaluates on either',
    value: 'DEV',
    default: 'auto',
  },
};

const PROBS = {
  kind: 'string',
  help: "the probabilities as CSV: image, then one column per class (default for an ensemble: OUT's name with -probs.csv, beside the submission; eval: probs.csv beside eval.json)",
  value: 'FILE',
} as const;

/**
 * The embedded default: Fashion-MNIST, a CIFAR ResNet-20, hard labels against ε = 0.1. All 54,000
 * training images for 3 one-cycle epochs rather than a subset for longer: the runs end converged
 * enough that bf16 and fp32 agree to a few tenths of a point, and 6,000 validation images measure it.
 */
export const DEMO: TrainConfig = {
  ...DEFAULTS,
  data: DEFAULT_DATASET,
  model: 'resnet20',
  epochs: 3,
  batchSize: 128,
  lr: 0.1,
  scheduler: 'onecycle',
  valFraction: 0.1,
  workers: 1,
  out: 'runs/demo',
  weightDecay: 5e-4,
};

/** lr-find's run: the training options, its files in their own folder. */
const LR_FIND_BASE: TrainConfig = { ...DEFAULTS, out: 'runs/lr-find' };
const RATE = { min: 0, minOpen: true } as const;

export const COMMANDS = {
  demo: {
    name: 'demo',
    summary: "The main job: Fashion-MNIST, ResNet-20, hard labels against ε = 0.1, a comparison report in runs/demo (compare's options, the demo's defaults).",
    groups: [
      {
        heading: 'options (the demo starts afresh in --out)',
        options: { ...configOptions(DEMO, { smoothingList: true }), classes: CLASSES, seeds: SEEDS, gallery: GALLERY, resume: RESUME_COMPARISON },
      },
      launchGroup,
    ],
  },
  train: {
    name: 'train',
    summary: 'Trains one model: metrics.jsonl each epoch, last and best checkpoints; Ctrl-C checkpoints and stops.',
    groups: [
      { heading: 'training', options: configOptions(DEFAULTS) },
      {
        heading: 'the run',
        options: {
          resume: { kind: 'boolean', help: 'continue from --out/last.safetensors (options changed since are warned of and recorded in resumes.jsonl)' },
          overwrite: OVERWRITE,
        },
      },
      launchGroup,
    ],
  },
  'lr-find': {
    name: 'lr-find',
    summary:
      "The learning-rate range test (Smith 2017; fastai's lr_find): the run's recipe at rates rising exponentially from --start-lr to --end-lr, the loss curve and a suggested --lr.",
    groups: [
      {
        heading: 'training (the run whose rate is sought; --freeze-epochs: the rate of the frozen phase)',
        options: {
          ...configOptions(LR_FIND_BASE),
          out: { kind: 'string', help: 'the folder lr-find.json, lr-find.svg and lr-find.png go to', value: 'DIR', default: LR_FIND_BASE.out },
        },
      },
      {
        heading: 'the sweep',
        options: {
          'start-lr': { kind: 'string', help: 'the first rate', value: 'LR', default: '1e-7', range: RATE },
          'end-lr': { kind: 'string', help: 'the last rate (above --start-lr)', value: 'LR', default: '10', range: RATE },
          steps: {
            kind: 'string',
            help: 'batches from --start-lr to --end-lr, each rate the previous one times the same factor; fewer when the smoothed loss passes 4× its best',
            value: 'N',
            default: '100',
            range: { integer: true, min: 2, max: 100000 },
          },
        },
      },
      launchGroup,
    ],
  },
  compare: {
    name: 'compare',
    summary: 'One run per label-smoothing value, same seed, initial weights and batches, then report.html.',
    groups: [
      {
        heading: 'options',
        options: {
          ...configOptions(DEFAULTS, { smoothingList: true }),
          classes: CLASSES,
          seeds: SEEDS,
          gallery: GALLERY,
          resume: RESUME_COMPARISON,
          overwrite: OVERWRITE,
        },
      },
      launchGroup,
    ],
  },
  eval: {
    name: 'eval',
    summary: "A trained run's accuracy, top-5, NLL, ECE, per-class accuracy, confusions and reliability diagram.",
    groups: [
      {
        heading: 'options',
        options: {
          ...RUN_OPTIONS,
          data: { kind: 'string', help: "labelled images (a folder or CSV), or fashion-mnist-test (default: the run's validation split)", value: 'DIR|CSV' },
          out: {
            kind: 'string',
            help: "the folder of eval.json and eval.html (default: RUN/eval/DATA-CHECKPOINT; an ensemble's: FOLDER/eval/ensemble-DATA-CHECKPOINT, FOLDER the folder of runs named or the runs' common parent)",
            value: 'DIR',
          },
          probs: PROBS,
        },
      },
      launchGroup,
    ],
  },
  predict: {
    name: 'predict',
    summary: "Kaggle's submission: image,label for every image of a test CSV.",
    groups: [
      {
        heading: 'options',
        options: {
          ...RUN_OPTIONS,
          data: { kind: 'string', help: "the test CSV (an 'image' column)", value: 'CSV' },
          out: { kind: 'string', help: 'the submission file to write', value: 'FILE' },
          probs: PROBS,
        },
      },
      launchGroup,
    ],
  },
  distill: {
    name: 'distill',
    summary: 'Students of a hard-label and a smoothed teacher (the distillation caveat of Müller et al. 2019).',
    groups: [
      { heading: 'training', options: configOptions(DEFAULTS) },
      {
        heading: 'distillation',
        options: {
          temperature: {
            kind: 'string',
            help: 'the softmax temperature T of the distillation term',
            value: 'T',
            default: '4',
            range: { min: 0, minOpen: true },
          },
          beta: { kind: 'string', help: 'the weight β of the distillation term: (1 − β)·CE + β·T²·KL', value: 'B', default: '0.5', range: { min: 0, max: 1 } },
          seeds: SEEDS,
          overwrite: OVERWRITE,
        },
      },
      launchGroup,
    ],
  },
  'weights info': {
    name: 'weights info',
    summary: 'Keys, dtypes and shapes of a .safetensors or torch.save (.pth/.pt) file.',
    positionals: ['FILE'],
    groups: [{ heading: 'options', options: { 'allow-expanded-views': EXPANDED_VIEWS } }],
  },
  'weights convert': {
    name: 'weights convert',
    summary: 'Converts a weight file (.pth or .safetensors) to OUT.safetensors.',
    positionals: ['IN', 'OUT'],
    groups: [{ heading: 'options', options: { 'allow-expanded-views': EXPANDED_VIEWS } }],
  },
} satisfies Record<string, CommandSpec>;
export type CommandName = keyof typeof COMMANDS;

/** The options that are not the run's configuration: a command's own (resume, classes, …). */
function splitConfig(
  values: Record<string, string | boolean>,
  own: string[],
): { config: Record<string, string | boolean>; extra: Record<string, string | boolean> } {
  const config: Record<string, string | boolean> = {};
  const extra: Record<string, string | boolean> = {};
  for (const [k, v] of Object.entries(values)) (own.includes(k) ? extra : config)[k] = v;
  return { config, extra };
}

/**
 * A training command's arguments: its configuration (over `base`) and its own options, or
 * `help: true` when -h/--help was given. Launch options must have been taken out first.
 */
export function parseTrainArgs(
  command: 'train' | 'lr-find' | 'compare' | 'demo' | 'distill',
  argv: string[],
  base: TrainConfig = command === 'demo' ? DEMO : command === 'lr-find' ? LR_FIND_BASE : DEFAULTS,
): { config: TrainConfig; extra: Record<string, string | boolean>; help: boolean } {
  const spec: CommandSpec = COMMANDS[command];
  const parsed = parseCommandLine(spec, withNegativeValues(spec, argv));
  if (parsed.help) return { config: base, extra: {}, help: true };
  const own = {
    train: ['resume', 'overwrite'],
    'lr-find': ['start-lr', 'end-lr', 'steps'],
    compare: ['smoothing', 'classes', 'seeds', 'gallery', 'resume', 'overwrite'],
    demo: ['smoothing', 'classes', 'seeds', 'gallery', 'resume'],
    distill: ['temperature', 'beta', 'seeds', 'overwrite'],
  }[command];
  const { config, extra } = splitConfig(parsed.values, own);
  return { config: configFrom(config, base), extra, help: false };
}

/** `--lr -1` as `--lr=-1`: a value that is a negative number is the option's value, not an option. */
export function withNegativeValues(spec: CommandSpec, argv: string[]): string[] {
  const table = optionsOf(spec);
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    if (a.startsWith('--') && !a.includes('=') && table[a.slice(2)]?.kind === 'string' && next !== undefined && /^-(\d|\.\d|Infinity)/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}
