// bench/run: every benchmark in one go, then one table of lsr against PyTorch (measured in the
// same run by each bench): bench/results/latest.md and latest.json.
//   node dist/bench/run.js [--only loss,resnet]
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableCores, buildInfo } from '../src/index.js';
import { writeFileAtomic } from '../src/io/index.js';
import { type BenchRow, benchSrc } from './common.js';

const ALL = ['overhead', 'loss', 'resnet', 'precision', 'data', 'leak', 'ddp'];
const onlyAt = process.argv.indexOf('--only');
const benches = onlyAt >= 0 ? process.argv[onlyAt + 1]!.split(',') : ALL;
const here = fileURLToPath(new URL('.', import.meta.url));
const rows: BenchRow[] = [];
const started = new Date();
for (const name of benches) {
  if (!ALL.includes(name)) throw new Error(`bench/run: unknown bench '${name}' (have ${ALL.join(', ')})`);
  const json = join(tmpdir(), `lsr-bench-${name}-${process.pid}.json`);
  console.log(`\n===== bench/${name}`);
  const args = name === 'leak' ? ['--expose-gc', join(here, `${name}.js`)] : [join(here, `${name}.js`)];
  const r = spawnSync(process.execPath, args, { stdio: 'inherit', env: { ...process.env, LSR_BENCH_JSON: json } });
  if (r.status !== 0) {
    rows.push({ bench: name, measure: `failed (exit ${r.status})`, lsr: '—', pytorch: '—', ratio: NaN, target: '—', met: false });
    continue;
  }
  rows.push(...(JSON.parse(readFileSync(json, 'utf8')) as BenchRow[]));
  rmSync(json, { force: true });
}

const info = buildInfo();
const header = `lsr benchmarks, ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC, ${availableCores()} cores, libtorch ${String((info as { torchVersion?: string }).torchVersion ?? '')}`;
const md = [
  `# ${header}`,
  '',
  '| bench | measure | lsr | PyTorch | ratio | target | met |',
  '| --- | --- | ---: | ---: | ---: | --- | --- |',
  ...rows.map(
    (r) =>
      `| ${r.bench} | ${r.measure} | ${r.lsr} | ${r.pytorch} | ${Number.isFinite(r.ratio) ? r.ratio.toFixed(3) : '—'} | ${r.target} | ${r.met ? 'yes' : '**no**'} |`,
  ),
  '',
].join('\n');
const out = join(benchSrc, 'results');
mkdirSync(out, { recursive: true });
writeFileAtomic(join(out, 'latest.md'), md);
writeFileAtomic(join(out, 'latest.json'), `${JSON.stringify({ header, rows }, null, 2)}\n`);
console.log(`\n${md}\nwritten to ${join(out, 'latest.md')} and latest.json`);
