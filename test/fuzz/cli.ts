// The CLI/run-folder fuzzer (`node dist/test/fuzz/run.js --target cli`; issue 26). Once per
// session: a tiny labelled image folder, one tiny trained run (`lsr train`, resnet20 on 16-px
// images) and the untouched run's outputs. Each case (test/fuzz/cli-mutate.ts) is a copy of the
// data and the run in a folder of its own, with 0–2 seeded changes to the run's files and 0–2 to
// the command line, then `lsr predict`, `lsr eval` or `lsr train --resume` as a child process with
// a time limit and an RSS cap on it and its descendants (test/fuzz/pool.ts). Outcomes:
//   error               a non-zero exit with a clean message that names a file, an option or a value
//   accepted            exit 0, and predict's labels (eval's metrics) those of the untouched run
//   accepted-different  exit 0 with other labels or metrics, where the case's change may give them
//                       (an eval pipeline changed to other valid values, last copied over best, …)
// and the failures:
//   crash         a signal, or JavaScript's or libtorch's internal text (a stack, "Cannot read
//                 properties", "is not a function", TypeError, …) in what the command printed
//   unclear       a non-zero exit whose message names no file, option or value (what a user
//                 cannot act on: "Unexpected token } in JSON at position 3"), or says 'undefined'
//   hang          past the time limit
//   runaway       RSS past the cap
//   silent-wrong  exit 0, but predict's labels (eval's metrics) differ where the change should not
//                 change them (a reordered vocab.json), predict wrote no submission, or a resume
//                 did not reach the epochs asked
// A failing case is written to --out: cli-N/ (its folder as the command found it, with
// command.txt, the command that reproduces it), cli-N.after/ (as the command left it) and
// cli-N.txt (what it printed); every case's outcome goes to --out/cases.jsonl.
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { type BaseRun, type BaselineKey, COMMAND_NAMES, type CliCase, RUN_FILES, makeCliCase } from './cli-mutate.js';
import { type FuzzOptions, Tally, Watchdog, killTree, processTree, runLanes } from './pool.js';

type Outcome = 'error' | 'accepted' | 'accepted-different' | 'crash' | 'unclear' | 'hang' | 'runaway' | 'silent-wrong';
const OUTCOMES: Outcome[] = ['error', 'accepted', 'accepted-different', 'crash', 'unclear', 'hang', 'runaway', 'silent-wrong'];
const FAILING: Outcome[] = ['crash', 'unclear', 'hang', 'runaway', 'silent-wrong'];

const MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'main.js');
const CLASSES = ['red', 'green', 'blue', 'black'];
/** The untouched run's epochs; a resume asks one more. */
const EPOCHS = 4;
const TRAIN_ARGS = '--data data --model resnet20 --image-size 16 --batch-size 4 --lr 0.01 --workers 0 --threads 1 --val-fraction 0.25 --out run'.split(' ');

/** A 16-px image of class c: one strong colour (black: none), with a little seeded texture. */
async function image(path: string, c: number, i: number): Promise<void> {
  const px = Buffer.alloc(16 * 16 * 3);
  for (let k = 0; k < px.length; k++) px[k] = (c !== 3 && k % 3 === c ? 170 : 30) + ((k * 7 + i * 13) % 50);
  await sharp(px, { raw: { width: 16, height: 16, channels: 3 } })
    .png()
    .toFile(path);
}

/** data/: train.csv (image,label; 12 images a class), test.csv (image; 3 a class) and images/. */
export async function makeData(dir: string): Promise<void> {
  mkdirSync(join(dir, 'images'), { recursive: true });
  let train = 'image,label\n';
  let test = 'image\n';
  for (let i = 0; i < 60; i++) {
    const c = i % CLASSES.length;
    await image(join(dir, 'images', `${i}.png`), c, i);
    if (i < 48) train += `images/${i}.png,${CLASSES[c]}\n`;
    else test += `images/${i}.png\n`;
  }
  writeFileSync(join(dir, 'train.csv'), train);
  writeFileSync(join(dir, 'test.csv'), test);
}

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  ms: number;
  killed: { outcome: 'hang' | 'runaway'; detail: string } | null;
  peakRss: number;
}

/** `node main.js args` in `cwd`, with its descendants watched; OMP and MKL kept to one thread. */
function lsr(cwd: string, args: string[], o: { timeoutMs: number; rssMib: number }): Promise<Ran> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child: ChildProcess = spawn(process.execPath, [MAIN, ...args], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1', FORCE_COLOR: '0' },
    });
    let output = '';
    const keep = (d: Buffer) => {
      output = (output + d.toString()).slice(-20_000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    let killed: Ran['killed'] = null;
    const dog = new Watchdog(child.pid!, { ...o, tree: true }, (outcome, detail) => {
      killed = { outcome, detail };
      killTree(processTree(child.pid!).members);
      killTree(dog.members);
    });
    child.on('exit', () => {
      dog.stop();
      // Whatever it left behind (the ranks of a --nproc run) would hold its output open.
      killTree(dog.members);
    });
    child.on('close', (code, signal) => {
      dog.stop();
      resolve({ code, signal, output, ms: Date.now() - t0, killed, peakRss: dog.peakRss });
    });
  });
}

/** Internal text: a JavaScript error escaping, a stack, libtorch's or V8's own words. */
const INTERNAL = [
  /Cannot read propert/,
  /Cannot set propert/,
  /is not a function/,
  /is not iterable/,
  /is not defined/,
  /\b(TypeError|RangeError|ReferenceError|SyntaxError|AssertionError)\b/,
  /Maximum call stack/,
  /^\s+at .+:\d+:\d+\)?$/m,
  /FATAL ERROR|Aborted|terminate called|Segmentation fault|core dumped/,
  /\[object Object\]/,
  /Exception raised from|c10::Error/,
  /argument \d+ must be/,
];

/** JSON.parse's own words, which name no file: a message that has only these names nothing. */
const UNNAMED_JSON =
  /(Unexpected (token|end of JSON|non-whitespace)|in JSON at position|is not valid JSON|Unterminated string|Bad control character|Expected .* in JSON)/;

/** The lsr error line (`lsr: …`), or the output's last lines. */
function message(output: string): string {
  const lines = output.split('\n').filter((l) => l.trim() && !/^epoch \d+\/\d+ \[/.test(l));
  const at = lines.map((l) => l.startsWith('lsr: ')).lastIndexOf(true);
  return (at >= 0 ? lines.slice(at) : lines.slice(-3)).join(' | ').slice(0, 400);
}

/** Does a failing command's message name what is wrong: a file, an option, a path or a value? */
function namesSomething(m: string): boolean {
  if (UNNAMED_JSON.test(m) && !/\.(json|jsonl|csv|safetensors)\b/.test(m)) return false;
  return /--[a-z]|\.(json|jsonl|csv|safetensors|png)\b|\brun\b|\bdata\b|'[^']*'|"[^"]*"|\/|\bconfig\b|\brecipe\b|\bvocab/i.test(m);
}

/** The first line of predict's CSV that differs from the baseline's, as "line N: got … expected …". */
function firstDifference(got: string, want: string): string {
  const a = got.split('\n');
  const b = want.split('\n');
  for (let i = 0; i < Math.max(a.length, b.length); i++)
    if (a[i] !== b[i]) return `line ${i + 1}: got '${(a[i] ?? '(none)').slice(0, 80)}', untouched '${(b[i] ?? '(none)').slice(0, 80)}'`;
  return 'the same';
}

/** The eval.json a case's eval wrote (its run folder had none before). */
function evalResult(dir: string): { accuracy: number; nll: number; count: number } | null {
  const root = join(dir, 'run', 'eval');
  if (!existsSync(root)) return null;
  for (const sub of readdirSync(root)) {
    const f = join(root, sub, 'eval.json');
    if (existsSync(f)) {
      const e = JSON.parse(readFileSync(f, 'utf8')) as { accuracy: number; nll: number; count: number };
      return { accuracy: e.accuracy, nll: e.nll, count: e.count };
    }
  }
  return null;
}

/** The last epoch in metrics.jsonl, or null. */
function lastEpoch(dir: string): number | null {
  try {
    const lines = readFileSync(join(dir, 'run', 'metrics.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean);
    return (JSON.parse(lines[lines.length - 1]!) as { epoch: number }).epoch;
  } catch {
    return null;
  }
}

interface Session {
  /** base/: data/ and run/, untouched. */
  base: string;
  run: BaseRun;
  /** Untouched outputs by baseline key, made on first use. */
  predictions: Map<string, Promise<string>>;
  evals: Map<string, Promise<{ accuracy: number; nll: number; count: number }>>;
  scratch: string;
  o: FuzzOptions;
}

let caseDirs = 0;
/** A fresh case folder: copies of data/ and run/. */
function caseFolder(s: Session): string {
  const dir = join(s.scratch, `case-${caseDirs++}`);
  mkdirSync(dir);
  cpSync(join(s.base, 'data'), join(dir, 'data'), { recursive: true });
  cpSync(join(s.base, 'run'), join(dir, 'run'), { recursive: true });
  return dir;
}

const keyOf = (k: BaselineKey) => `${k.data}|${k.checkpoint}|${k.tta}`;

/** The untouched run's output for a key: predict's CSV text, or eval's metrics. */
function untouched(s: Session, command: 'predict', k: BaselineKey): Promise<string>;
function untouched(s: Session, command: 'eval', k: BaselineKey): Promise<{ accuracy: number; nll: number; count: number }>;
function untouched(s: Session, command: 'predict' | 'eval', k: BaselineKey): Promise<unknown> {
  const cache: Map<string, Promise<unknown>> = command === 'predict' ? s.predictions : s.evals;
  const key = keyOf(k);
  let p = cache.get(key);
  if (!p) {
    p = (async () => {
      const dir = caseFolder(s);
      const args = [command, '--run', 'run', '--checkpoint', k.checkpoint, ...(k.tta ? ['--tta'] : [])];
      if (command === 'predict') args.push('--data', k.data, '--out', 'sub.csv');
      else if (k.data !== 'val') args.push('--data', k.data);
      const r = await lsr(dir, args, { timeoutMs: 120_000, rssMib: s.o.rssMib });
      if (r.code !== 0) throw new Error(`fuzz: the untouched run's ${args.join(' ')} failed (${r.signal ?? r.code}): ${message(r.output)}`);
      const out = command === 'predict' ? readFileSync(join(dir, 'sub.csv'), 'utf8') : evalResult(dir);
      rmSync(dir, { recursive: true, force: true });
      return out;
    })();
    cache.set(key, p);
  }
  return p;
}

/** Sets up the session: the data, the trained run, its files. */
async function setUp(o: FuzzOptions, scratch: string): Promise<Session> {
  const base = join(scratch, 'base');
  await makeData(join(base, 'data'));
  const t0 = Date.now();
  const r = await lsr(base, ['train', ...TRAIN_ARGS, '--epochs', String(EPOCHS)], { timeoutMs: 300_000, rssMib: o.rssMib });
  if (r.code !== 0) throw new Error(`fuzz: the untouched run did not train (${r.signal ?? r.code}): ${message(r.output)}`);
  const files: Record<string, Buffer> = {};
  for (const f of [...RUN_FILES, 'run/best.safetensors', 'run/last.safetensors']) files[f] = readFileSync(join(base, f));
  const s: Session = { base, run: { files, trainArgs: TRAIN_ARGS, epochs: EPOCHS }, predictions: new Map(), evals: new Map(), scratch, o };
  const labels = (await untouched(s, 'predict', { checkpoint: 'best', tta: false, data: 'data/test.csv' }))
    .split('\n')
    .slice(1)
    .filter(Boolean)
    .map((l) => l.split(',')[1]);
  await untouched(s, 'eval', { checkpoint: 'best', tta: false, data: 'val' });
  const seen = new Set(labels);
  console.log(
    `fuzz: the untouched run trained in ${((Date.now() - t0) / 1000).toFixed(1)} s; its predict gives ${seen.size} of ${CLASSES.length} classes over ${labels.length} images`,
  );
  if (seen.size < 3) throw new Error(`fuzz: the untouched run predicts one class only (${[...seen]}): a reordered vocab.json would go unseen`);
  return s;
}

interface Judged {
  outcome: Outcome;
  detail: string;
}

async function judge(s: Session, c: CliCase, dir: string, r: Ran): Promise<Judged> {
  if (r.killed) return { outcome: r.killed.outcome, detail: `${r.killed.detail}; last output: ${message(r.output)}` };
  const m = message(r.output);
  if (r.signal) return { outcome: 'crash', detail: `killed by ${r.signal}: ${m}` };
  const internal = INTERNAL.find((p) => p.test(r.output));
  if (r.code !== 0) {
    if (internal) return { outcome: 'crash', detail: `exit ${r.code}, internal text (${internal.source}): ${m}` };
    if (!namesSomething(m)) return { outcome: 'unclear', detail: `exit ${r.code}: ${m}` };
    // JavaScript's word for a missing value, in a message otherwise clean.
    if (/\bundefined\b/.test(m)) return { outcome: 'unclear', detail: `exit ${r.code}, 'undefined' where a user reads it: ${m}` };
    return { outcome: 'error', detail: m };
  }
  if (internal) return { outcome: 'crash', detail: `exit 0 with internal text (${internal.source}): ${m}` };
  if (c.args.some((a) => a === '--help' || a === '-h')) return { outcome: 'accepted', detail: 'help' };
  if (c.command === 'predict') {
    if (c.outFile === null) return { outcome: 'accepted', detail: 'no submission to read' };
    const file = join(dir, c.outFile);
    if (!existsSync(file) || !statSync(file).isFile()) return { outcome: 'silent-wrong', detail: `exit 0 but no submission at ${c.outFile}: ${m}` };
    if (!c.baseline) return { outcome: 'accepted', detail: 'not comparable (other data or run)' };
    const got = readFileSync(file, 'utf8');
    const want = await untouched(s, 'predict', c.baseline);
    if (got === want) return { outcome: 'accepted', detail: 'the untouched labels' };
    const diff = firstDifference(got, want);
    return c.mayDiffer ? { outcome: 'accepted-different', detail: `${diff} (${c.mayDiffer})` } : { outcome: 'silent-wrong', detail: `labels differ: ${diff}` };
  }
  if (c.command === 'eval') {
    if (!c.baseline) return { outcome: 'accepted', detail: 'not comparable (other data or run)' };
    const got = evalResult(dir);
    if (!got) return { outcome: 'silent-wrong', detail: `exit 0 but no eval.json: ${m}` };
    const want = await untouched(s, 'eval', c.baseline);
    if (got.count === want.count && got.accuracy === want.accuracy && Math.abs(got.nll - want.nll) <= 1e-6 * Math.max(1, Math.abs(want.nll)))
      return { outcome: 'accepted', detail: 'the untouched metrics' };
    const diff = `${got.count} images, accuracy ${got.accuracy}, NLL ${got.nll}; untouched: ${want.count}, ${want.accuracy}, ${want.nll}`;
    return c.mayDiffer ? { outcome: 'accepted-different', detail: `${diff} (${c.mayDiffer})` } : { outcome: 'silent-wrong', detail: `metrics differ: ${diff}` };
  }
  if (c.epochs !== null && c.epochs >= 1) {
    const last = lastEpoch(dir);
    if (last !== Math.max(c.epochs, EPOCHS))
      return { outcome: 'silent-wrong', detail: `resume exited 0 but metrics.jsonl ends at epoch ${last}, asked ${c.epochs}: ${m}` };
  }
  return { outcome: 'accepted', detail: m };
}

/** Writes a case's changes into its folder. */
function apply(c: CliCase, dir: string): void {
  for (const e of c.edits) {
    const path = join(dir, e.name);
    rmSync(path, { recursive: true, force: true });
    if (e.content === 'dir') mkdirSync(path);
    else if (e.content !== null) writeFileSync(path, e.content);
  }
}

const shellQuote = (a: string) => (/^[\w./:=,@+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);

export async function fuzzCli(o: FuzzOptions): Promise<number> {
  if (Number.isNaN(o.timeoutMs)) o.timeoutMs = 60_000;
  if (Number.isNaN(o.rssMib)) o.rssMib = 2048;
  const scratch = mkdtempSync(join(tmpdir(), 'lsr-fuzz-cli-'));
  process.on('exit', () => rmSync(scratch, { recursive: true, force: true })); // on an error too
  const out = o.out || join(tmpdir(), `lsr-fuzz-cli-seed-${o.seed}`);
  const tally = new Tally<Outcome>(OUTCOMES, FAILING);
  const s = await setUp(o, scratch);
  rmSync(join(out, 'cases.jsonl'), { force: true });

  const plan: number[] = o.only.length ? o.only.map(([, i]) => i) : Array.from({ length: o.cases }, (_, i) => i);
  let planned = 0;
  const take = (): CliCase | undefined => (planned < plan.length ? makeCliCase(o.seed, plan[planned++]!, s.run) : undefined);
  const perCommand = new Map<string, number[]>();
  await runLanes(o, take, () => ({
    close: () => {},
    run: async (c: CliCase) => {
      const dir = caseFolder(s);
      apply(c, dir);
      const r = await lsr(dir, c.args, o);
      tally.peakRss = Math.max(tally.peakRss, r.peakRss);
      const what = `cli:${c.index} (${c.what.join('; ')})`;
      tally.timed(r.ms, what);
      perCommand.set(c.command, [...(perCommand.get(c.command) ?? []), r.ms]);
      // An untouched output that cannot be made ends the session (the tree is broken, not the case).
      const j = await judge(s, c, dir, r);
      mkdirSync(out, { recursive: true });
      appendFileSync(
        join(out, 'cases.jsonl'),
        `${JSON.stringify({ index: c.index, command: c.command, what: c.what, outcome: j.outcome, detail: j.detail, ms: r.ms })}\n`,
      );
      if (tally.add(c.command, c.index, what, j.outcome, `${j.detail} [${r.ms} ms]`)) {
        // Keep the case's folder as it was before the command ran (the command may have changed it), with how to rerun it.
        const kept = join(out, `cli-${c.index}`);
        rmSync(kept, { recursive: true, force: true });
        mkdirSync(out, { recursive: true });
        const after = join(out, `cli-${c.index}.after`);
        rmSync(after, { recursive: true, force: true });
        cpSync(dir, after, { recursive: true });
        rmSync(dir, { recursive: true, force: true });
        const fresh = caseFolder(s);
        apply(c, fresh);
        cpSync(fresh, kept, { recursive: true });
        rmSync(fresh, { recursive: true, force: true });
        const command = `cd ${kept} && node ${MAIN} ${c.args.map(shellQuote).join(' ')}`;
        writeFileSync(join(kept, 'command.txt'), `${command}\n`);
        writeFileSync(join(out, `cli-${c.index}.txt`), `${what}\n${j.outcome}: ${j.detail}\n\n${command}\n\n${r.output}`);
      } else rmSync(dir, { recursive: true, force: true });
    },
  }));

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  console.log(
    `\nfuzz cli: seed ${o.seed}, ${planned} cases${o.only.length ? '' : ` (${o.cases} asked)`} in ${tally.seconds().toFixed(1)} s (set-up included), ${o.jobs} at a time, timeout ${o.timeoutMs} ms, RSS cap ${o.rssMib} MiB; peak RSS ${(tally.peakRss / 2 ** 20).toFixed(0)} MiB; median ${COMMAND_NAMES.map((k) => `${k} ${median(perCommand.get(k) ?? [])} ms`).join(', ')}; slowest ${tally.slowest.ms} ms (${tally.slowest.what})`,
  );
  if (planned < plan.length) console.log(`fuzz cli: stopped after --seconds ${o.seconds}: ${plan.length - planned} cases not run`);
  console.log(`\n${tally.table(COMMAND_NAMES, 'command')}`);
  return tally.finish(
    out,
    `node dist/test/fuzz/run.js --seed ${o.seed} --only cli:INDEX (or the command in ${out}/cli-INDEX/command.txt)`,
    'no crash, hang, runaway or silent wrong output',
  );
}
