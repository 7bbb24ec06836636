#!/usr/bin/env node
// The lsr command line. Subcommands live in their own files; this one parses and dispatches.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type DistContext, contextFromEnv, joinGroup, launch, leaveGroup, splitLaunchArgs } from '../distributed/index.js';
import { compareCommand, demoCommand, distillCommand, evalCommand, predictCommand, trainCommand } from './commands.js';
import { lrFindCommand } from './lr-find.js';
import { BadInputError, buildInfo, configureRuntime } from '../engine/index.js';
import { type CommandSpec, closest, parseCommandLine, reference, synopsis, usage } from './options.js';
import { COMMANDS, type CommandName, parseTrainArgs } from './specs.js';
import { weightsConvert, weightsInfo } from './weights.js';

/** `lsr help`: every command in a line or two, generated from the option tables. */
function overview(): string {
  const lines = ['usage: lsr <command> [options]        (lsr <command> --help lists its options)', '', 'commands:'];
  for (const c of Object.values(COMMANDS) as CommandSpec[]) lines.push(`  ${synopsis(c).slice('lsr '.length).padEnd(26)}${c.summary}`);
  lines.push(`  ${'help [command]'.padEnd(26)}this text, or a command's options (--markdown: the CLI reference, docs/cli.md)`);
  lines.push(`  ${'--version'.padEnd(26)}lsr's version and the libtorch it runs on`);
  lines.push(
    '',
    'train, lr-find, compare, demo, distill, eval and predict take --nproc N (and --nnodes, --node-rank,',
    "--master-addr, --master-port, --dist-timeout) for data-parallel runs; a process started with torchrun's variables",
    'joins that run.',
  );
  return lines.join('\n');
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { name: string; version: string };
  return `${pkg.name} ${pkg.version} (libtorch ${buildInfo().torchVersion})`;
}

const asHelp = (a: string) => a === '--help' || a === '-h';

/** Set when this process is a rank of a data-parallel run. */
let rank: DistContext | null = null;

export async function main(argv: string[]): Promise<number> {
  const [command, sub, ...rest] = argv;
  // The CLI owns its process: libtorch's threads and the malloc policy are set here, not on import.
  configureRuntime();
  const parallel: Record<string, (args: string[], ctx: DistContext | null) => Promise<number>> = {
    train: trainCommand,
    'lr-find': lrFindCommand,
    compare: compareCommand,
    eval: evalCommand,
    predict: predictCommand,
    demo: demoCommand,
    distill: distillCommand,
  };
  if (command !== undefined && parallel[command]) {
    const { launch: options, rest: args } = splitLaunchArgs(argv.slice(1));
    if (options && !args.some(asHelp)) {
      if (contextFromEnv()) throw new BadInputError('--nproc / --nnodes: this process is already a rank of a data-parallel run (WORLD_SIZE is set)');
      if (command === 'train' || command === 'lr-find' || command === 'compare' || command === 'demo' || command === 'distill') {
        // The options are checked here, before any worker starts: a bad one is one message, not one per rank.
        const { config } = parseTrainArgs(command, args);
        const world = options.nproc * options.nnodes;
        if (config.batchSize % (world * config.accumulate) !== 0)
          throw new BadInputError(
            `--batch-size ${config.batchSize} must be a multiple of the ${world} processes (--nproc ${options.nproc}${options.nnodes > 1 ? ` × --nnodes ${options.nnodes}` : ''})${config.accumulate > 1 ? ` times --accumulate ${config.accumulate}` : ''}: it is the global batch, split evenly among them`,
          );
      }
      return launch(fileURLToPath(import.meta.url), [command, ...args], options);
    }
    rank = contextFromEnv();
    joinGroup(rank);
    const code = await parallel[command](args, rank);
    leaveGroup(rank);
    return code;
  }
  if (command === undefined || command === 'help' || asHelp(command)) {
    if (sub === '--markdown') console.log(reference(Object.values(COMMANDS)).trimEnd());
    else if (sub !== undefined && sub in COMMANDS) console.log(usage(COMMANDS[sub as CommandName]));
    else if (sub !== undefined && `${sub} ${rest[0] ?? ''}` in COMMANDS) console.log(usage(COMMANDS[`${sub} ${rest[0]}` as CommandName]));
    else if (sub !== undefined) throw new BadInputError(`lsr help: no command '${sub}'${suggest(sub)}`);
    else console.log(overview());
    return 0;
  }
  if (command === '--version' || command === '-v' || command === 'version') {
    console.log(version());
    return 0;
  }
  if (command === 'weights' && (sub === 'info' || sub === 'convert')) {
    const spec = COMMANDS[`weights ${sub}`];
    const { positionals, values, help } = parseCommandLine(spec, rest);
    const options = { allowExpandedViews: values['allow-expanded-views'] === true };
    if (help) console.log(usage(spec));
    else if (sub === 'info') weightsInfo(positionals[0]!, console.log, options);
    else weightsConvert(positionals[0]!, positionals[1]!, console.log, options);
    return 0;
  }
  console.error(`lsr: unknown command '${argv.join(' ')}'${suggest(command === 'weights' ? `weights ${sub ?? ''}` : command)}\n\n${overview()}`);
  return 2;
}

function suggest(name: string): string {
  const near = closest(name, [...Object.keys(COMMANDS), 'help']);
  return near ? ` (did you mean '${near}'?)` : '';
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
