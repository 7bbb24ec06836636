// What the fuzzers share (test/fuzz/run.ts: weight files; test/fuzz/cli.ts: the command line and
// run folders): their options, a watchdog that kills a child past its time limit (hang) or its
// RSS cap (runaway), the lanes that take cases from a plan, and the tally of outcomes with its
// table and list of failing cases.
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export type Target = 'weights' | 'cli';

export interface FuzzOptions {
  target: Target;
  cases: number;
  seed: number;
  seconds: number;
  jobs: number;
  /** NaN: the target's default. */
  timeoutMs: number;
  /** NaN: the target's default. */
  rssMib: number;
  /** The weight-file fuzzer's formats (pth, safetensors), or ['cli']. */
  formats: string[];
  only: Array<[string, number]>;
  out: string;
  /** Restart a child after this many cases (a slow leak must not read as one case's runaway). */
  recycle: number;
}

const WEIGHT_FORMATS = ['pth', 'safetensors'];

/** The fuzzers' command line; `help` is the file whose leading `//` comment is printed for --help. */
export function parseFuzzArgs(argv: string[], help: string): FuzzOptions {
  const o: FuzzOptions = {
    target: 'weights',
    cases: 5000,
    seed: 1,
    seconds: Number.POSITIVE_INFINITY,
    jobs: 2,
    timeoutMs: Number.NaN,
    rssMib: Number.NaN,
    formats: WEIGHT_FORMATS,
    only: [],
    out: '',
    recycle: 500,
  };
  let format = '';
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split('=', 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i] ?? '';
    const count = (v: string) => {
      const n = Number(v);
      if (v.trim() === '' || !Number.isSafeInteger(n) || n < 0) throw new Error(`fuzz: ${flag} needs a whole number ≥ 0 (got '${v}')`);
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
    else if (flag === '--target') {
      const t = value();
      if (t !== 'weights' && t !== 'cli') throw new Error(`fuzz: --target is weights or cli (got '${t}')`);
      o.target = t;
    } else if (flag === '--format') {
      format = value();
      if (!WEIGHT_FORMATS.includes(format)) throw new Error(`fuzz: --format is pth or safetensors (got '${format}')`);
    } else if (flag === '--only')
      for (const item of value().split(',')) {
        const [f, n] = item.split(':');
        if ((f !== 'cli' && !WEIGHT_FORMATS.includes(f!)) || n === undefined)
          throw new Error(`fuzz: --only takes KIND:INDEX[,…], KIND pth, safetensors or cli (got '${item}')`);
        o.only.push([f!, count(n)]);
      }
    else if (flag === '--help' || flag === '-h') {
      console.log(
        readFileSync(fileURLToPath(help), 'utf8')
          .split('\n')
          .filter((l) => l.startsWith('//'))
          .join('\n'),
      );
      process.exit(0);
    } else throw new Error(`fuzz: unknown option '${flag}'`);
  }
  if (o.only.length) {
    const kinds = new Set(o.only.map(([f]) => (f === 'cli' ? 'cli' : 'weights')));
    if (kinds.size > 1) throw new Error('fuzz: --only takes cases of one target at a time (cli, or pth and safetensors)');
    o.target = kinds.has('cli') ? 'cli' : 'weights';
  }
  o.formats = o.target === 'cli' ? ['cli'] : format ? [format] : WEIGHT_FORMATS;
  return o;
}

/** A process's resident set, from /proc (Linux); 0 where it cannot be read. */
export function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

interface Proc {
  ppid: number;
  /** In clock ticks since boot: with the pid, names one process (pids are reused). */
  start: string;
  rss: number;
}

function procs(): Map<number, Proc> {
  const all = new Map<number, Proc>();
  let names: string[] = [];
  try {
    names = readdirSync('/proc');
  } catch {
    // Not Linux: no tree.
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // Fields after the command's closing parenthesis: state ppid pgrp …; starttime is the 22nd field overall, rss the 24th.
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      all.set(Number(name), { ppid: Number(f[1]), start: f[19]!, rss: Number(f[21]) * 4096 });
    } catch {
      // Gone since the listing.
    }
  }
  return all;
}

/** A process and its descendants (the ranks a `--nproc` launcher starts lead process groups of their own): pid → start time, and their RSS added. */
export function processTree(pid: number): { members: Map<number, string>; rss: number } {
  const all = procs();
  const members = new Map<number, string>();
  let rss = 0;
  const visit = (p: number) => {
    const me = all.get(p);
    if (!me || members.has(p)) return;
    members.set(p, me.start);
    rss += me.rss;
    for (const [q, x] of all) if (x.ppid === p) visit(q);
  };
  visit(pid);
  return { members, rss };
}

/** SIGKILLs the processes given (pid → start time) that are still those processes. */
export function killTree(members: Map<number, string>): void {
  const now = procs();
  for (const [pid, start] of members)
    if (now.get(pid)?.start === start)
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone.
      }
}

/**
 * Watches one case of a child: past `timeoutMs` it is a hang, past `rssMib` (its own RSS, or with
 * `tree` that of it and its descendants) a runaway; either way `kill` is called once, with the
 * outcome. With `tree`, `members` holds every process of the tree seen so far (for killTree).
 */
export class Watchdog {
  peakRss = 0;
  readonly members = new Map<number, string>();
  private readonly timer: NodeJS.Timeout;
  private readonly poll: NodeJS.Timeout;
  private fired = false;

  constructor(pid: number, o: { timeoutMs: number; rssMib: number; tree?: boolean }, kill: (outcome: 'hang' | 'runaway', detail: string) => void) {
    const fire = (outcome: 'hang' | 'runaway', detail: string) => {
      if (this.fired) return;
      this.fired = true;
      this.stop();
      kill(outcome, detail);
    };
    this.timer = setTimeout(() => fire('hang', `no answer after ${o.timeoutMs} ms`), o.timeoutMs);
    const cap = o.rssMib * 2 ** 20;
    this.poll = setInterval(
      () => {
        let rss: number;
        if (o.tree) {
          const t = processTree(pid);
          for (const [p, start] of t.members) this.members.set(p, start);
          rss = t.rss;
        } else rss = rssOf(pid);
        this.peakRss = Math.max(this.peakRss, rss);
        if (rss > cap) fire('runaway', `RSS ${(rss / 2 ** 20).toFixed(0)} MiB > ${o.rssMib} MiB`);
      },
      o.tree ? 250 : 20,
    );
  }

  stop(): void {
    clearTimeout(this.timer);
    clearInterval(this.poll);
  }
}

/**
 * Runs `jobs` lanes until the plan is spent or `seconds` have passed; each lane makes its own
 * state (a child to reuse, say) with `lane()` and is closed at the end.
 */
export async function runLanes<T>(
  o: { jobs: number; seconds: number },
  take: () => T | undefined,
  lane: () => { run(item: T): Promise<void>; close(): void },
): Promise<void> {
  const started = Date.now();
  await Promise.all(
    Array.from({ length: o.jobs }, async () => {
      const l = lane();
      try {
        for (;;) {
          if ((Date.now() - started) / 1000 > o.seconds) return;
          const item = take();
          if (item === undefined) return;
          await l.run(item);
        }
      } finally {
        l.close();
      }
    }),
  );
}

export interface Failure {
  group: string;
  index: number;
  what: string;
  outcome: string;
  detail: string;
}

/** Outcomes counted per group (a format, or the CLI's command), and the failing cases. */
export class Tally<O extends string> {
  readonly counts: Record<string, Record<O, number>> = {};
  readonly failures: Failure[] = [];
  /** The slowest case (ms) and what it was. */
  slowest = { ms: 0, what: '' };
  peakRss = 0;
  readonly started = Date.now();

  constructor(
    private readonly outcomes: readonly O[],
    private readonly failing: readonly O[],
  ) {}

  isFailure(outcome: O): boolean {
    return this.failing.includes(outcome);
  }

  /** Counts one outcome; a failure is kept and printed as it happens. Returns whether it failed. */
  add(group: string, index: number, what: string, outcome: O, detail: string): boolean {
    this.counts[group] ??= Object.fromEntries(this.outcomes.map((k) => [k, 0])) as Record<O, number>;
    this.counts[group][outcome]++;
    if (!this.isFailure(outcome)) return false;
    this.failures.push({ group, index, what, outcome, detail });
    console.log(`  ${outcome.toUpperCase()} ${what}: ${detail}`);
    return true;
  }

  timed(ms: number, what: string): void {
    if (ms > this.slowest.ms) this.slowest = { ms, what };
  }

  seconds(): number {
    return (Date.now() - this.started) / 1000;
  }

  /** The table: a row per group (in `groups` order, then any other), a column per outcome. */
  table(groups: string[], head: string): string {
    const width = Math.max(12, ...this.outcomes.map((k) => k.length));
    const first = Math.max(head.length, ...Object.keys(this.counts).map((g) => g.length));
    for (const g of groups) this.counts[g] ??= Object.fromEntries(this.outcomes.map((k) => [k, 0])) as Record<O, number>;
    const rows = [...groups, ...Object.keys(this.counts).filter((g) => !groups.includes(g))];
    const lines = [
      `| ${head.padEnd(first)} | ${this.outcomes.map((k) => k.padEnd(width)).join(' | ')} |`,
      `| ${'-'.repeat(first)} | ${this.outcomes.map(() => '-'.repeat(width)).join(' | ')} |`,
      ...rows.map((g) => `| ${g.padEnd(first)} | ${this.outcomes.map((k) => String(this.counts[g]![k]).padEnd(width)).join(' | ')} |`),
    ];
    if (rows.length > 1) {
      const total = (k: O) => rows.reduce((s, g) => s + this.counts[g]![k], 0);
      lines.push(`| ${'all'.padEnd(first)} | ${this.outcomes.map((k) => String(total(k)).padEnd(width)).join(' | ')} |`);
    }
    return lines.join('\n');
  }

  /** Prints the failing cases with how to rerun one; the exit status: 1 on any failure. */
  finish(out: string, rerun: string, clean: string): number {
    if (this.failures.length) {
      console.log(`\n${this.failures.length} failing cases (written to ${out}; rerun one with ${rerun}):`);
      for (const r of this.failures) console.log(`  ${r.outcome} ${r.what}: ${r.detail}`);
      return 1;
    }
    console.log(`\n${clean}`);
    return 0;
  }
}
