// The README's library example runs as written (its import pointed at this build), and the README
// stays the short page the project promises.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { distRoot } from './helpers.js';

const repo = join(distRoot, '..');
const readme = readFileSync(join(repo, 'README.md'), 'utf8');

test("the README's library example runs and prints PyTorch's repr", () => {
  const block = /## The library[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block, 'no ```ts block under "## The library"');
  const js = ts.transpileModule(block.replace("from 'lsr-torch'", `from ${JSON.stringify(join(distRoot, 'src', 'index.js'))}`), {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  }).outputText;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', js], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^\d+\.\d+ tensor\(\[1\.5000, 2\.0000\]\)\n$/);
});

test('the README is at most 10 KB', () => {
  assert.ok(statSync(join(repo, 'README.md')).size <= 10 * 1024);
});
