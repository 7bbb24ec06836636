// The weight-file fuzzer (`npm run fuzz`; issue 17): seeded mutations of valid .pth and
// .safetensors files (test/fuzz/mutate.ts), each loaded as `lsr weights convert` loads it in a pool
// of child processes (test/fuzz/child.ts) with a per-case timeout and an RSS cap. Every case ends
// as a clean error (an Error with a message), accepted (loaded, and the same after a safetensors
// round trip), or a failure: crash (a signal, an exit, something thrown that is not an Error, or a
// round trip that differs), hang (past the timeout) or runaway memory (RSS past the cap). A case
// that kills its child is run again alone in a fresh child, to tell whether it alone does it. The
// failing cases are written to --out; the table is printed; the exit status is 1 on any failure.
//
//   node dist/test/fuzz/run.js [--cases 5000] [--seed 1] [--seconds 600] [--jobs 2]
//     [--timeout-ms 30000] [--rss-mib 1024] [--format pth|safetensors] [--only pth:123] [--out DIR]
import { type ChildProcess, fork } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FuzzCase, FuzzReply } from './child.js';
import { type Bases, canaryPath, makeCase } from './mutate.js';

type Format = FuzzCase['format'];
type Outcome = 'error' | 'accepted' | 'crash' | 'hang' | 'runaway';
const OUTCOMES: Outcome[] = ['error', 'accepted', 'crash', 'hang', 'runaway'];

interface Options {
  cases: number;
  seed: number;
  seconds: number;
  jobs: number;
  timeoutMs: number;
  rssMib: number;
  formats: Format[];
  only: Array<[Format, number]>;
  out: string;
  /** Restart a child after this many cases (a slow leak must not read as one case's runaway). */
  recycle: number;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    cases: 5000,
    seed: 1,
    seconds: Number.POSITIVE_INFINITY,
    jobs: 2,
    timeoutMs: 30_000,
    rssMib: 1024,
    formats: ['pth', 'safetensors'],
    only: [],
    out: '',
    recycle: 500,
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split('=', 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i] ?? '';
    const count = (v: string) => {
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n < 0) throw new Error(`fuzz: ${flag} needs a whole number ≥ 0 (got '${v}')`);
      return n;
    };
    if (flag === '--cases') o.cases = count(value());
    else if (flag === '--seed') o.seed = count(value());
    else if (flag === '--seconds') o.seconds = count(value());
    else if (flag === '--jobs') o.jobs = Math.max(1, count(value()));
    else if (flag === '--timeout-ms') o.timeoutMs = count(value());
    else if (flag === '--rss-mib') o.rssMib = count(value());
    else if (flag === '--recycle') o.recycle = Math.max(1, count(value()));
    else if (flag === '--out') o.out = value();
    else if (flag === '--format') {
      const f = value();
      if (f !== 'pth' && f !== 'safetensors') throw new Error(`fuzz: --format is pth or safetensors (got '${f}')`);
      o.formats = [f];
    } else if (flag === '--only')
      for (const item of value().split(',')) {
        const [f, n] = item.split(':');
        if ((f !== 'pth' && f !== 'safetensors') || n === undefined) throw new Error(`fuzz: --only takes FORMAT:INDEX[,…] (got '${item}')`);
        o.only.push([f, count(n)]);
      }
    else if (flag === '--help' || flag === '-h') {
      console.log(
        readFileSync(fileURLToPath(import.meta.url), 'utf8')
          .split('\n')
          .filter((l) => l.startsWith('//'))
          .join('\n'),
      );
      process.exit(0);
    } else throw new Error(`fuzz: unknown option '${flag}'`);
  }
  return o;
}

interface Pending {
  c: FuzzCase;
  what: string;
}

interface Result {
  format: Format;
  index: number;
  what: string;
  outcome: Outcome;
  detail: string;
}

/** A child process that loads one case at a time. */
class Worker {
  readonly child: ChildProcess;
  ready: Promise<void>;
  busy: { p: Pending; started: number; resolve: (r: { outcome: Outcome; detail: string; kind?: string }) => void } | null = null;
  done = 0;
  peakRss = 0;
  private exited = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly o: Options,
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

  run(p: Pending): Promise<{ outcome: Outcome; detail: string; kind?: string }> {
    return new Promise((resolve) => {
      this.busy = { p, started: Date.now(), resolve };
      this.timer = setTimeout(() => this.kill('hang', `no answer after ${this.o.timeoutMs} ms`), this.o.timeoutMs);
      this.child.send(p.c);
    });
  }

  /** RSS from /proc (Linux); 0 where it cannot be read. */
  rss(): number {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.child.pid}/status`, 'utf8'));
      return m ? Number(m[1]) * 1024 : 0;
    } catch {
      return 0;
    }
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
    if (this.timer) clearTimeout(this.timer);
    const { resolve } = this.busy;
    this.busy = null;
    this.done++;
    resolve(kind === undefined ? { outcome, detail } : { outcome, detail, kind });
  }
}

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
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

  const plan: Array<[Format, number]> = o.only.length ? o.only : o.formats.flatMap((f) => Array.from({ length: o.cases }, (_, i): [Format, number] => [f, i]));
  // Interleave the formats so that a --seconds budget covers both.
  plan.sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
  let nextId = 0;
  let planned = 0;
  const take = (): Pending | undefined => {
    if (planned >= plan.length) return undefined;
    const [format, index] = plan[planned++]!;
    const { bytes, what } = makeCase(format, o.seed, index, bases, canary);
    return { c: { id: nextId++, format, bytes }, what: `${format}:${index} (${what})` };
  };

  const results: Result[] = [];
  const counts: Record<Format, Record<Outcome, number>> = {
    pth: { error: 0, accepted: 0, crash: 0, hang: 0, runaway: 0 },
    safetensors: { error: 0, accepted: 0, crash: 0, hang: 0, runaway: 0 },
  };
  const internal = new Map<string, { count: number; first: string }>();
  const started = Date.now();
  let peakRss = 0;
  let slowest = 0;
  let slowestWhat = '';
  const cap = o.rssMib * 2 ** 20;
  const workers: Worker[] = [];
  const poll = setInterval(() => {
    for (const w of workers) {
      if (!w.busy) continue;
      const rss = w.rss();
      peakRss = Math.max(peakRss, rss);
      if (rss > cap) w.kill('runaway', `RSS ${(rss / 2 ** 20).toFixed(0)} MiB > ${o.rssMib} MiB`);
    }
  }, 20);

  const record = (p: Pending, outcome: Outcome, detail: string) => {
    const [format, index] = p.what.split(' ')[0]!.split(':') as [Format, string];
    counts[format][outcome]++;
    if (outcome !== 'error' && outcome !== 'accepted') {
      results.push({ format, index: Number(index), what: p.what, outcome, detail });
      mkdirSync(out, { recursive: true });
      writeFileSync(join(out, `${format}-${index}.${format}`), p.c.bytes);
      console.log(`  ${outcome.toUpperCase()} ${p.what}: ${detail}`);
    }
    if (existsSync(canary)) {
      counts[format].crash++;
      results.push({ format, index: Number(index), what: p.what, outcome: 'crash', detail: 'CODE RAN: the canary file was created' });
      console.log(`  CODE EXECUTION ${p.what}`);
      rmSync(canary, { force: true });
    }
  };

  const lane = async (): Promise<void> => {
    let w: Worker | null = null;
    for (;;) {
      if ((Date.now() - started) / 1000 > o.seconds) return;
      const p = take();
      if (!p) return;
      if (!w?.alive || w.done >= o.recycle) {
        w?.stop();
        w = new Worker(o, scratch);
        workers.push(w);
        await w.ready;
      }
      const t0 = Date.now();
      const r = await w.run(p);
      if (Date.now() - t0 > slowest) {
        slowest = Date.now() - t0;
        slowestWhat = p.what;
      }
      if (r.outcome === 'error' && r.kind !== 'Error') {
        const key = `${r.kind}: ${r.detail.replace(/^error: /, '').slice(0, 160)}`;
        const seen = internal.get(key);
        internal.set(key, { count: (seen?.count ?? 0) + 1, first: seen?.first ?? p.what });
      }
      if ((r.outcome === 'crash' || r.outcome === 'hang') && !w.alive) {
        // Run it again alone in a fresh child: does this case do it, or the ones before it?
        w = null;
        const fresh = new Worker(o, scratch);
        workers.push(fresh);
        await fresh.ready;
        const again = await fresh.run(p);
        fresh.stop();
        if (again.outcome === r.outcome) record(p, r.outcome, `${r.detail} (again when run alone)`);
        else if (r.outcome === 'hang' && (again.outcome === 'error' || again.outcome === 'accepted'))
          record(p, again.outcome, `${again.detail} (timed out once under load, finished alone)`);
        else record(p, r.outcome, `${r.detail} (alone: ${again.outcome}: ${again.detail})`);
        continue;
      }
      if (r.outcome === 'runaway' && !w.alive) w = null;
      record(p, r.outcome, r.detail);
    }
  };
  await Promise.all(Array.from({ length: o.jobs }, () => lane()));
  clearInterval(poll);
  for (const w of workers) w.stop();
  rmSync(scratch, { recursive: true, force: true });

  const seconds = (Date.now() - started) / 1000;
  const ran = planned;
  console.log(
    `\nfuzz: seed ${o.seed}, ${ran} cases${o.only.length ? '' : ` (${o.cases} per format asked)`} in ${seconds.toFixed(1)} s, ${o.jobs} children, timeout ${o.timeoutMs} ms, RSS cap ${o.rssMib} MiB; peak child RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB, slowest case ${slowest} ms (${slowestWhat})`,
  );
  if (ran < plan.length) console.log(`fuzz: stopped after --seconds ${o.seconds}: ${plan.length - ran} cases not run`);
  const width = 12;
  console.log(`\n| format      | ${OUTCOMES.map((k) => k.padEnd(width)).join(' | ')} |`);
  console.log(`| ----------- | ${OUTCOMES.map(() => '-'.repeat(width)).join(' | ')} |`);
  for (const f of o.formats) console.log(`| ${f.padEnd(11)} | ${OUTCOMES.map((k) => String(counts[f][k]).padEnd(width)).join(' | ')} |`);
  if (internal.size) {
    console.log('\nerrors that are not io’s own messages (TypeError, RangeError, …):');
    for (const [m, { count, first }] of internal) console.log(`  ${count} × ${m} (first: ${first})`);
  }
  if (results.length) {
    console.log(`\n${results.length} failing cases (written to ${out}; rerun one with --only FORMAT:INDEX --seed ${o.seed}):`);
    for (const r of results) console.log(`  ${r.outcome} ${r.what}: ${r.detail}`);
    return 1;
  }
  console.log('\nno crash, hang or runaway');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(2);
  },
);
