// The package as another project gets it: `npm pack`, installed from the tarball into a fresh
// project (its install script builds the addon, and --foreground-scripts shows what it prints,
// which npm hides otherwise; the dependencies come from npm's cache or the registry), a
// TypeScript file compiled against it under --strict with the library's types checked too
// (skipLibCheck off, no @types of the consumer's own), and run; docs/library.md's example of a
// comparison run from code (experiments.compare) compiled beside it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { distRoot } from './helpers.js';

const repo = join(distRoot, '..');
const consumer = mkdtempSync(join(tmpdir(), 'lsr-consumer-'));
after(() => rmSync(consumer, { recursive: true, force: true }));

const run = (cmd: string, args: string[], cwd: string) => {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 600_000, env: { ...process.env, npm_config_update_notifier: 'false' } });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return r;
};

/** docs/library.md's example under "## Experiments from code", as a library user would paste it. */
const COMPARE = /## Experiments from code[\s\S]*?```ts\n([\s\S]*?)```/.exec(readFileSync(join(repo, 'docs', 'library.md'), 'utf8'))?.[1] ?? '';

const MAIN = `import { crossEntropy, models, tensor, tidy, training, type Tensor } from 'lsr-torch';
import { inspect } from 'node:util';

const model = models.resnet20({ numClasses: 3, inChannels: 1 });
const loss: number = tidy(() => {
  const x: Tensor = tensor(Array.from({ length: 2 * 28 * 28 }, (_, i) => (i % 7) / 7)).reshape([2, 1, 28, 28]);
  return crossEntropy(model.forward(x), tensor([0n, 2n]), { labelSmoothing: 0.1 }).item();
});
const config: training.TrainConfig = { ...training.DEFAULTS, epochs: 1 };
console.log(JSON.stringify({ loss, epochs: config.epochs, hasResnet50: training.MODELS.has('resnet50'), repr: inspect(tensor([1.5, 2])) }));
model.dispose();
`;

test("npm pack, install into a fresh project, compile strict TypeScript files against it (the docs' compare example among them), run one", () => {
  const pack = run('npm', ['pack', '--pack-destination', consumer], repo);
  const tarball = readdirSync(consumer).find((f) => f.endsWith('.tgz'));
  assert.ok(tarball, pack.stdout);
  const listed = pack.stderr + pack.stdout;
  for (const f of ['LICENSE', 'dist/src/index.d.ts', 'native/core.cc', 'scripts/build-native.mjs', 'src/index.ts'])
    assert.ok(listed.includes(f), `the tarball lacks ${f}`);
  assert.ok(!listed.includes('dist/test/'), 'the tarball ships the tests');

  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }));
  const typescript = JSON.parse(readFileSync(join(repo, 'node_modules', 'typescript', 'package.json'), 'utf8')).version as string;
  const install = run(
    'npm',
    ['install', '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts', `./${tarball}`, `typescript@${typescript}`],
    consumer,
  );
  // The message counts every native/*.cc (scripts/build-native.mjs states the number).
  const sources = readdirSync(join(repo, 'native')).filter((f) => f.endsWith('.cc')).length;
  assert.match(install.stdout + install.stderr, new RegExp(`lsr: building the native addon \\(${sources} C\\+\\+ files against libtorch`));
  assert.ok(existsSync(join(consumer, 'node_modules', 'lsr-torch', 'build', 'Release', 'lsr_native.node')));
  // The consumer asked for nothing but lsr-torch and the compiler (no @types of its own).
  assert.deepEqual(Object.keys(JSON.parse(readFileSync(join(consumer, 'package.json'), 'utf8')).dependencies).sort(), ['lsr-torch', 'typescript']);

  writeFileSync(join(consumer, 'main.ts'), MAIN);
  // Compiled, not run (it trains eight runs on Fashion-MNIST): its types are the package's.
  assert.ok(COMPARE.includes('experiments.compare('), 'docs/library.md has no ```ts block running experiments.compare under "## Experiments from code"');
  writeFileSync(join(consumer, 'compare.ts'), COMPARE);
  writeFileSync(
    join(consumer, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', outDir: 'out', skipLibCheck: false },
    }),
  );
  run(process.execPath, [join(consumer, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], consumer);
  assert.ok(existsSync(join(consumer, 'out', 'compare.js')));
  const out = run(process.execPath, ['out/main.js'], consumer);
  const result = JSON.parse(out.stdout) as { loss: number; epochs: number; hasResnet50: boolean; repr: string };
  assert.ok(Number.isFinite(result.loss) && result.loss > 0, out.stdout);
  assert.deepEqual({ ...result, loss: 0 }, { loss: 0, epochs: 1, hasResnet50: true, repr: 'tensor([1.5000, 2.0000])' });
});
