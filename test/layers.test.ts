// The design's floors, as the source's imports show them: each folder of src/ imports only the
// folders below it (engine code never imports training code), and no module imports itself back
// through others (an import circle: modules half-initialised at load, and a design that has no
// bottom). Read from the TypeScript sources, `import type` included.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { distRoot } from './helpers.js';

const src = resolve(distRoot, '..', 'src');

/** What each folder may import, besides itself. The top (cli, the package's index) may import anything. */
const MAY_IMPORT: Record<string, string[]> = {
  engine: [],
  io: ['engine'],
  nn: ['engine'],
  losses: ['engine'],
  optim: ['engine'],
  eval: ['engine'],
  report: ['io'],
  models: ['engine', 'nn', 'io'],
  data: ['engine', 'io', 'losses'],
  distributed: ['engine', 'nn'],
  train: ['engine', 'io', 'nn', 'losses', 'optim', 'eval', 'models', 'data', 'distributed'],
  experiments: ['engine', 'io', 'nn', 'losses', 'optim', 'eval', 'models', 'data', 'distributed', 'report', 'train'],
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Each module's relative imports (static, `export … from`, and `import type`), as source paths. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sources(src)) {
    const text = readFileSync(file, 'utf8');
    const deps = new Set<string>();
    for (const m of text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+'(\.{1,2}\/[^']+)'/gm))
      deps.add(resolve(dirname(file), m[1]!.replace(/\.js$/, '.ts')));
    for (const m of text.matchAll(/\bimport\(\s*'(\.{1,2}\/[^']+)'\s*\)/g)) deps.add(resolve(dirname(file), m[1]!.replace(/\.js$/, '.ts')));
    graph.set(file, [...deps]);
  }
  return graph;
}

const folderOf = (file: string): string => {
  const parts = relative(src, file).split('/');
  return parts.length > 1 ? parts[0]! : '(top)';
};

test('each folder imports only the floors below it', () => {
  const graph = importGraph();
  assert.ok(graph.size > 50, `read ${graph.size} modules`);
  const wrong: string[] = [];
  for (const [file, deps] of graph) {
    const from = folderOf(file);
    const allowed = MAY_IMPORT[from];
    if (!allowed) continue; // cli and the package's index: the top
    for (const dep of deps) {
      const to = folderOf(dep);
      if (to !== from && !allowed.includes(to))
        wrong.push(`${relative(src, file)} imports ${relative(src, dep)} (${from} may import ${allowed.join(', ') || 'nothing else'})`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('no import circles', () => {
  const graph = importGraph();
  const circles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (file: string) => {
    state.set(file, 'open');
    path.push(file);
    for (const dep of graph.get(file) ?? []) {
      if (state.get(dep) === 'open') circles.push([...path.slice(path.indexOf(dep)), dep].map((f) => relative(src, f)).join(' → '));
      else if (!state.has(dep)) visit(dep);
    }
    path.pop();
    state.set(file, 'done');
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  assert.deepEqual(circles, []);
});
