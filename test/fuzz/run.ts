// The fuzzers (`npm run fuzz` runs both). `--target weights` (the default; issue 17): seeded
// mutations of valid .pth and .safetensors files (test/fuzz/mutate.ts), each loaded as `lsr weights
// convert` loads it in a pool of child processes (test/fuzz/child.ts) with a per-case timeout and an
// RSS cap. Every case ends as a clean error (an Error with a message), accepted (loaded, and the same
// after a safetensors round trip), or a failure: crash (a signal, an exit, something thrown that is
// not an Error, or a round trip that differs), hang (past the timeout) or runaway memory (RSS past
// the cap). A case that kills its child is run again alone in a fresh child, to tell whether it
// alone does it. `--target cli` (issue 26): mutated run folders and option values given to `lsr
// predict`, `eval` and `train --resume`, each a child process (test/fuzz/cli.ts). The failing cases
// are written to --out; the table is printed; the exit status is 1 on any failure.
//
//   node dist/test/fuzz/run.js [--target weights|cli] [--cases 5000] [--seed 1] [--seconds 600]
//     [--jobs 2] [--timeout-ms 30000 (cli: 60000)] [--rss-mib 1024 (cli: 2048)]
//     [--format pth|safetensors] [--only pth:123|cli:123] [--out DIR]
import { type ChildProcess, fork } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FuzzCase, FuzzReply } from './child.js';
import { fuzzCli } from './cli.js';
import { type Bases, canaryPath, makeCase } from './mutate.js';
import { type FuzzOptions, Tally, Watchdog, parseFuzzArgs, runLanes } from './pool.js';

type Format = FuzzCase['format'];
type Outcome = 'error' | 'accepted' | 'crash' | 'hang' | 'runaway';
const OUTCOMES: Outcome[] = ['error', 'accepted', 'crash', 'hang', 'runaway'];

interface Pending {
  c: FuzzCase;
  format: Format;
  index: number;
  what: string;
}

type Reply = { outcome: Outcome; detail: string; kind?: string };

/** A child process that loads one case at a time. */
class Worker {
  readonly child: ChildProcess;
  ready: Promise<void>;
  busy: { p: Pending; resolve: (r: Reply) => void; dog: Watchdog } | null = null;
  done = 0;
  private exited = false;

  constructor(
    private readonly o: FuzzOptions,
    private readonly tally: Tally<Outcome>,
    cwd: string,
  ) {
    const childPath = join(dirname(fileURLToPath(import.meta.url)), 'child.js');
    this.child = fork(childPath, [], { serialization: 'advanced', stdio: ['ignore', 'ignore', 'pipe', 'ipc'], cwd });
    let stderr = '';
    this.child.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-2000);
    });
    this.ready = new Promise((resolve, reject) => {
      this.child.once('message', () => resolve());
      this.child.once('exit', (code, signal) => reject(new Error(`fuzz: a child exited at start (${signal ?? code}): ${stderr}`)));
    });
    this.child.on('message', (m: FuzzReply | { ready: true }) => {
      if ('ready' in m || !this.busy || m.id !== this.busy.p.c.id) return;
      this.settle(m.outcome === 'error' || m.outcome === 'accepted' ? m.outcome : 'crash', `${m.outcome}: ${m.message}`, m.kind);
    });
    this.child.on('exit', (code, signal) => {
      this.exited = true;
      if (this.busy) this.settle('crash', `the child died (${signal ?? `exit ${code}`}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
    });
  }

  get alive(): boolean {
    return !this.exited;
  }

  run(p: Pending): Promise<Reply> {
    return new Promise((resolve) => {
      const dog = new Watchdog(this.child.pid!, this.o, (outcome, detail) => this.kill(outcome, detail));
      this.busy = { p, resolve, dog };
      this.child.send(p.c);
    });
  }

  kill(outcome: Outcome, detail: string): void {
    if (!this.busy) return;
    this.exited = true;
    this.settle(outcome, detail);
    this.child.kill('SIGKILL');
  }

  stop(): void {
    if (!this.exited) this.child.send({ exit: true });
  }

  private settle(outcome: Outcome, detail: string, kind?: string): void {
    if (!this.busy) return;
    const { resolve, dog } = this.busy;
    dog.stop();
    this.tally.peakRss = Math.max(this.tally.peakRss, dog.peakRss);
    this.busy = null;
    this.done++;
    resolve(kind === undefined ? { outcome, detail } : { outcome, detail, kind });
  }
}

async function fuzzWeights(o: FuzzOptions): Promise<number> {
  if (Number.isNaN(o.timeoutMs)) o.timeoutMs = 30_000;
  if (Number.isNaN(o.rssMib)) o.rssMib = 1024;
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  const fixtures = join(root, 'test', 'fixtures');
  const bases: Bases = {
    pth: ['resnet-tiny.pth', 'evil-global.pth', 'evil-path.pth'].map((f) => readFileSync(join(fixtures, f))),
    safetensors: ['resnet-tiny.safetensors'].map((f) => readFileSync(join(fixtures, f))),
  };
  // The children run in a scratch folder: a code-execution attempt would touch the canary there.
  const scratch = mkdtempSync(join(tmpdir(), 'lsr-fuzz-'));
  process.on('exit', () => rmSync(scratch, { recursive: true, force: true })); // on an error too
  const canary = canaryPath(scratch);
  const out = o.out || join(tmpdir(), `lsr-fuzz-seed-${o.seed}`);

  const everyCase = o.formats.flatMap((f) => Array.from({ length: o.cases }, (_, i): [string, number] => [f, i]));
  const plan = (o.only.length ? o.only : everyCase) as Array<[Format, number]>;
  // Interleave the formats so that a --seconds budget covers both.
  plan.sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
  let nextId = 0;
  let planned = 0;
  const take = (): Pending | undefined => {
    if (planned >= plan.length) return undefined;
    const [format, index] = plan[planned++]!;
    const { bytes, what } = makeCase(format, o.seed, index, bases, canary);
    return { c: { id: nextId++, format, bytes }, format, index, what: `${format}:${index} (${what})` };
  };

  const tally = new Tally<Outcome>(OUTCOMES, ['crash', 'hang', 'runaway']);
  const internal = new Map<string, { count: number; first: string }>();
  const record = (p: Pending, outcome: Outcome, detail: string) => {
    if (tally.add(p.format, p.index, p.what, outcome, detail)) {
      mkdirSync(out, { recursive: true });
      writeFileSync(join(out, `${p.format}-${p.index}.${p.format}`), p.c.bytes);
    }
    if (existsSync(canary)) {
      tally.add(p.format, p.index, p.what, 'crash', 'CODE RAN: the canary file was created');
      console.log(`  CODE EXECUTION ${p.what}`);
      rmSync(canary, { force: true });
    }
  };
  const fresh = async () => {
    const w = new Worker(o, tally, scratch);
    await w.ready;
    return w;
  };

  await runLanes(o, take, () => {
    let w: Worker | null = null;
    return {
      close: () => w?.stop(),
      run: async (p: Pending) => {
        if (!w?.alive || w.done >= o.recycle) {
          w?.stop();
          w = await fresh();
        }
        const t0 = Date.now();
        const r = await w.run(p);
        tally.timed(Date.now() - t0, p.what);
        if (r.outcome === 'error' && r.kind !== 'Error') {
          const key = `${r.kind}: ${r.detail.replace(/^error: /, '').slice(0, 160)}`;
          const seen = internal.get(key);
          internal.set(key, { count: (seen?.count ?? 0) + 1, first: seen?.first ?? p.what });
        }
        if ((r.outcome === 'crash' || r.outcome === 'hang') && !w.alive) {
          // Run it again alone in a fresh child: does this case do it, or the ones before it?
          w = null;
          const alone = await fresh();
          const again = await alone.run(p);
          alone.stop();
          if (again.outcome === r.outcome) record(p, r.outcome, `${r.detail} (again when run alone)`);
          else if (r.outcome === 'hang' && (again.outcome === 'error' || again.outcome === 'accepted'))
            record(p, again.outcome, `${again.detail} (timed out once under load, finished alone)`);
          else record(p, r.outcome, `${r.detail} (alone: ${again.outcome}: ${again.detail})`);
          return;
        }
        if (r.outcome === 'runaway' && !w.alive) w = null;
        record(p, r.outcome, r.detail);
      },
    };
  });
  rmSync(scratch, { recursive: true, force: true });

  console.log(
    `\nfuzz: seed ${o.seed}, ${planned} cases${o.only.length ? '' : ` (${o.cases} per format asked)`} in ${tally.seconds().toFixed(1)} s, ${o.jobs} children, timeout ${o.timeoutMs} ms, RSS cap ${o.rssMib} MiB; peak child RSS ${(tally.peakRss / 2 ** 20).toFixed(0)} MiB, slowest case ${tally.slowest.ms} ms (${tally.slowest.what})`,
  );
  if (planned < plan.length) console.log(`fuzz: stopped after --seconds ${o.seconds}: ${plan.length - planned} cases not run`);
  console.log(`\n${tally.table(o.formats, 'format')}`);
  if (internal.size) {
    console.log('\nerrors that are not io’s own messages (TypeError, RangeError, …):');
    for (const [m, { count, first }] of internal) console.log(`  ${count} × ${m} (first: ${first})`);
  }
  return tally.finish(out, `--only FORMAT:INDEX --seed ${o.seed}`, 'no crash, hang or runaway');
}

const options = (() => {
  try {
    return parseFuzzArgs(process.argv.slice(2), import.meta.url);
  } catch (e) {
    console.error(e instanceof Error ? e.message : e);
    process.exit(2);
  }
})();
(options.target === 'cli' ? fuzzCli(options) : fuzzWeights(options)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(2);
  },
);
