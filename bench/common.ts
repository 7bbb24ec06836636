// Shared by the benchmarks: the Python PyTorch reference (Debian's python3-torch, installed here
// if missing) and small timing helpers.
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** bench/*.py live in the source tree, next to the compiled bench/*.js's sources. */
export const benchSrc = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench');
const PYTHON = process.env.LSR_PYTHON ?? '/usr/bin/python3';

/** Makes sure Debian's PyTorch is importable, installing python3-torch with apt (as root) if not. */
export function ensurePythonTorch(extra: string[] = []): string {
  const has = () => spawnSync(PYTHON, ['-c', `import torch${extra.map((m) => `, ${m}`).join('')}`], { stdio: 'ignore' }).status === 0;
  if (has()) return PYTHON;
  const pkgs = ['python3-torch', ...extra.map((m) => `python3-${m}`)];
  console.log(`bench: installing ${pkgs.join(' ')} (the PyTorch reference) with apt ...`);
  execFileSync('apt-get', ['install', '-y', '-qq', ...pkgs], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (!has()) throw new Error(`bench: ${PYTHON} still cannot import torch after installing ${pkgs.join(' ')}`);
  return PYTHON;
}

/** glibc settings equal to lsr's keep-freed-memory policy (native/core.cc), for a Python process. */
export const LSR_MALLOC_ENV = { MALLOC_MMAP_MAX_: '0', MALLOC_TRIM_THRESHOLD_: '2147483647' };

/** Runs bench/NAME.py with args (and extra environment) and parses the JSON object it prints last. */
export function runPython<T>(script: string, args: string[], env: Record<string, string> = {}): T {
  const py = ensurePythonTorch();
  const out = execFileSync(py, [join(benchSrc, script), ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  return JSON.parse(out.trim().split('\n').pop()!) as T;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

/** One row of the suite's table: a measure, lsr's and PyTorch's figures, the ratio and its target. */
export interface BenchRow {
  bench: string;
  measure: string;
  lsr: string;
  pytorch: string;
  ratio: number;
  target: string;
  met: boolean;
}

/** Hands rows to bench/run (through the file LSR_BENCH_JSON names); a plain run ignores them. */
export function emitRows(rows: BenchRow[]): void {
  const path = process.env.LSR_BENCH_JSON;
  if (path) writeFileSync(path, JSON.stringify(rows));
}
