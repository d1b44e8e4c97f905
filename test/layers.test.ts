// The layout holds by itself (docs/architecture.md "Layers"): every relative import of the tree
// passes the layer rule eslint runs (scripts/eslint-layers.mjs), no module imports itself back
// through a cycle, and the rule does catch each kind of violation.
import { Linter } from 'eslint';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';
import { isTestFile, LAYER_RANK, layersRule, layerViolation } from '../scripts/eslint-layers.mjs';
import { projectRoot } from './helpers/bundle.js';

/** Every .ts file of the layers (generated code aside), repository-relative. */
function layerFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(path.join(projectRoot, dir), { withFileTypes: true })) {
      const rel = `${dir}/${e.name}`;
      if (e.isDirectory()) {
        if (e.name !== 'gen' && e.name !== 'node_modules') walk(rel);
      } else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) {
        out.push(rel);
      }
    }
  };
  for (const layer of Object.keys(LAYER_RANK)) walk(layer);
  return out;
}

/** The relative specifiers a file imports, re-exports or import()s. */
function relativeImports(rel: string): string[] {
  const info = ts.preProcessFile(readFileSync(path.join(projectRoot, rel), 'utf8'), true, true);
  return info.importedFiles.map((f) => f.fileName).filter((s) => s.startsWith('.'));
}

const resolved = (from: string, spec: string): string =>
  path.posix.normalize(path.posix.join(path.posix.dirname(from), spec)).replace(/\.js$/, '.ts');

describe('layers', () => {
  const files = layerFiles();

  it('every import in the tree goes downward, through a door', () => {
    expect(files.length).toBeGreaterThan(100);
    const violations = files.flatMap((f) => relativeImports(f).map((s) => layerViolation(f, s)).filter((v) => v !== undefined));
    expect(violations).toEqual([]);
  });

  it('no module reaches itself through its imports (tests aside)', () => {
    const code = files.filter((f) => !isTestFile(f));
    const known = new Set(code);
    const edges = new Map(code.map((f) => [f, relativeImports(f).map((s) => resolved(f, s)).filter((t) => known.has(t))]));
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (f: string): void => {
      state.set(f, 'open');
      stack.push(f);
      for (const t of edges.get(f) ?? []) {
        if (state.get(t) === 'open') cycles.push([...stack.slice(stack.indexOf(t)), t].join(' -> '));
        else if (!state.has(t)) visit(t);
      }
      stack.pop();
      state.set(f, 'done');
    };
    for (const f of code) if (!state.has(f)) visit(f);
    expect(cycles).toEqual([]);
  });

  it('the eslint rule reports an upward import, an import behind a door and one into test/', () => {
    const linter = new Linter({ cwd: projectRoot });
    const config = [{
      files: ['**/*.ts'], languageOptions: { parser: tseslint.parser }, plugins: { berth: { rules: { layers: layersRule } } }, rules: { 'berth/layers': 'error' as const },
    }];
    const lint = (file: string, code: string): string[] =>
      linter.verify(code, config, path.join(projectRoot, file)).map((m) => m.message);

    expect(lint('sys/x.ts', "import { a } from '../cri/index.js';")).toEqual([expect.stringContaining('sys/ may import only the layers below it')]);
    expect(lint('image/x.ts', "export { a } from '../taskmanager/index.js';")).toEqual([expect.stringContaining('image/ may import only the layers below it')]);
    expect(lint('cri/runtime/x.ts', "const m = await import('../../sys/mount.js');")).toEqual([expect.stringContaining('behind the door of sys/')]);
    expect(lint('cri/runtime/x.ts', "import type { R } from '../store/records.js';")).toEqual([expect.stringContaining('behind the door of cri/store/')]);
    expect(lint('shim/x.ts', "import { b } from '../test/fixtures/index.js';")).toEqual([expect.stringContaining('never test/')]);
    // allowed: downward through doors, the CRI door, the same folder, an enclosing folder, tests
    expect(lint('cri/runtime/x.ts', [
      "import { a } from '../../sys/index.js';", "import { c } from '../../proto/cri.js';", "import { d } from '../store/index.js';",
      "import { e } from './deps.js';", "import { f } from '../daemon.js';", "import { g } from 'node:fs';",
    ].join('\n'))).toEqual([]);
    expect(lint('cri/runtime/x.test.ts', "import { r } from '../store/testdata/records.js';")).toEqual([]);
  });
});
