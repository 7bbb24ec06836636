// `--nproc N [--nnodes M --node-rank R --master-addr HOST --master-port P]`: this process becomes
// torchrun's agent for its machine. It starts N workers of the same command with torchrun's
// environment variables, stops them all when one fails (naming it), and forwards Ctrl-C.
import { type ChildProcess, spawn } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { createServer } from 'node:net';
import { BadInputError, type NumberRange, THREADS_PER_CORE, maxThreads, parseNumber } from '../engine/index.js';
import { DEFAULT_TIMEOUT_S, TIMEOUT_RANGE } from './context.js';

export interface LaunchOptions {
  nproc: number;
  nnodes: number;
  nodeRank: number;
  masterAddr: string;
  /** 0: a free port on this machine (single-machine runs only). */
  masterPort: number;
  timeoutS: number;
}

const FLAGS = {
  nproc: 'nproc',
  nnodes: 'nnodes',
  'node-rank': 'nodeRank',
  'master-addr': 'masterAddr',
  'master-port': 'masterPort',
  'dist-timeout': 'timeoutS',
} as const;

/** Takes the launcher's options out of a command's arguments; null when there are none. */
export function splitLaunchArgs(argv: string[]): { launch: LaunchOptions | null; rest: string[] } {
  const raw: Partial<Record<keyof LaunchOptions, string>> = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [name, inline] = arg.startsWith('--') ? (arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined]) : ['', undefined];
    if (!(name in FLAGS)) {
      rest.push(arg);
      continue;
    }
    const value = inline ?? argv[++i];
    // No launcher value starts with '--': that is the next option, and this one was given none.
    if (value === undefined || (inline === undefined && value.startsWith('--'))) throw new Error(`option --${name} needs a value`);
    raw[FLAGS[name as keyof typeof FLAGS]] = value;
  }
  if (Object.keys(raw).length === 0) return { launch: null, rest };
  const number = (key: keyof LaunchOptions, flag: string, range: NumberRange, fallback: number): number =>
    raw[key] === undefined ? fallback : parseNumber(raw[key], `--${flag}`, range);
  const o: LaunchOptions = {
    // Processes share the cores: more than THREADS_PER_CORE a core only wait for one another.
    nproc: number('nproc', 'nproc', { integer: true, min: 1, max: maxThreads(), note: `at most ${THREADS_PER_CORE} per core` }, 1),
    nnodes: number('nnodes', 'nnodes', { integer: true, min: 1 }, 1),
    nodeRank: number('nodeRank', 'node-rank', { integer: true, min: 0 }, 0),
    masterAddr: raw.masterAddr ?? '127.0.0.1',
    masterPort: number('masterPort', 'master-port', { integer: true, min: 1, max: 65535 }, 0),
    timeoutS: number('timeoutS', 'dist-timeout', TIMEOUT_RANGE, DEFAULT_TIMEOUT_S),
  };
  // An empty host is no address: the rendezvous would wait its whole timeout for it.
  if (!/\S/.test(o.masterAddr)) throw new Error(`--master-addr must name a host (an address or a name), got '${o.masterAddr}'`);
  if (o.nodeRank >= o.nnodes) throw new Error(`--node-rank must be below --nnodes (${o.nnodes}), got ${o.nodeRank}`);
  if (o.nnodes > 1 && o.masterPort === 0) throw new Error('--master-port is needed when --nnodes > 1 (every machine must name the same one)');
  if (o.nnodes > 1 && raw.masterAddr === undefined) throw new Error('--master-addr is needed when --nnodes > 1: the address of the machine with --node-rank 0');
  return { launch: o, rest };
}

/**
 * --master-addr names a host this machine can resolve: a name that resolves nowhere would have
 * every rank wait its whole --dist-timeout at the rendezvous, then fail saying only that.
 */
export async function checkHost(host: string): Promise<void> {
  try {
    await lookup(host);
  } catch (e) {
    throw new BadInputError(
      `--master-addr ${host}: this machine cannot resolve it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): give the address or name of the machine with --node-rank 0`,
    );
  }
}

/** A TCP port free on this machine now (the kernel's pick). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Runs `node script args` as this machine's ranks; resolves to the exit code: 0 when every rank
 * succeeded, otherwise the first failed rank's code (1 for a signal), 130 for an interrupt.
 */
export async function launch(
  script: string,
  args: string[],
  o: LaunchOptions,
  log: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<number> {
  await checkHost(o.masterAddr);
  const port = o.masterPort || (await freePort());
  const world = o.nproc * o.nnodes;
  const children: Array<{ rank: number; localRank: number; proc: ChildProcess; exited: boolean }> = [];
  let failure: { code: number; message: string } | null = null;
  let interrupted = false;
  const timers: NodeJS.Timeout[] = [];

  const stopOthers = () => {
    // The survivors notice the lost rank themselves within seconds and exit with a message of
    // their own; those that do not (hung) are terminated, then killed.
    const grace = Math.min(30, o.timeoutS) * 1000;
    timers.push(
      setTimeout(() => {
        for (const c of children) if (!c.exited) c.proc.kill('SIGTERM');
      }, grace),
    );
    timers.push(
      setTimeout(() => {
        for (const c of children) if (!c.exited) c.proc.kill('SIGKILL');
      }, grace + 10_000),
    );
  };

  const onSigint = () => {
    interrupted = true;
    for (const c of children) if (!c.exited) c.proc.kill('SIGINT');
  };
  process.on('SIGINT', onSigint);
  const onSigterm = () => {
    for (const c of children) if (!c.exited) c.proc.kill('SIGTERM');
  };
  process.on('SIGTERM', onSigterm);

  const exits: Array<Promise<void>> = [];
  for (let localRank = 0; localRank < o.nproc; localRank++) {
    const rank = o.nodeRank * o.nproc + localRank;
    const env = {
      ...process.env,
      RANK: String(rank),
      WORLD_SIZE: String(world),
      LOCAL_RANK: String(localRank),
      LOCAL_WORLD_SIZE: String(o.nproc),
      GROUP_RANK: String(o.nodeRank),
      MASTER_ADDR: o.masterAddr,
      MASTER_PORT: String(port),
      LSR_DIST_TIMEOUT: String(o.timeoutS),
    };
    // Its own process group: a terminal's Ctrl-C reaches this agent only, which forwards it once.
    const proc = spawn(process.execPath, [...process.execArgv, script, ...args], { env, stdio: 'inherit', detached: true });
    const child = { rank, localRank, proc, exited: false };
    children.push(child);
    exits.push(
      new Promise((resolve) => {
        proc.on('error', (e) => {
          failure ??= { code: 1, message: `rank ${rank}: could not start: ${e.message}` };
        });
        proc.on('exit', (code, signal) => {
          child.exited = true;
          if ((code !== 0 || signal) && !failure) {
            const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
            failure = { code: code && code !== 0 ? code : 1, message: `rank ${rank} (local rank ${localRank}, pid ${proc.pid}) ${how}` };
            if (!interrupted && children.some((c) => !c.exited)) log(`lsr: ${failure.message}; stopping the other ranks`);
            stopOthers();
          }
          resolve();
        });
      }),
    );
  }
  await Promise.all(exits);
  for (const t of timers) clearTimeout(t);
  process.off('SIGINT', onSigint);
  process.off('SIGTERM', onSigterm);
  const f = failure as { code: number; message: string } | null;
  if (interrupted && f?.code === 130) return 130;
  if (f) {
    log(`lsr: the run failed: ${f.message} (the first rank to end; the ranks' own messages above say why)`);
    return f.code;
  }
  return 0;
}
