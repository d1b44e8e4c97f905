// The layout holds by itself (docs/architecture.md "Layers"): every relative import of the tree
// passes the layer rule eslint runs (scripts/eslint-layers.mjs), no module imports itself back
// through a cycle, the rule does catch each kind of violation, and code comments cite pages of
// this repository, never notes outside it.
import { Linter } from 'eslint';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';
import { isTestFile, LAYER_RANK, layersRule, layerViolation } from '../scripts/eslint-layers.mjs';
import { projectRoot } from './helpers/bundle.js';

/** Every .ts file under `roots` (generated code aside), repository-relative. */
function tsFiles(roots: readonly string[]): string[] {
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
  for (const r of roots) walk(r);
  return out;
}

/** The text of every comment in a file (each attached to some node, so none is missed). */
function comments(rel: string): string[] {
  const text = readFileSync(path.join(projectRoot, rel), 'utf8');
  const sf = ts.createSourceFile(rel, text, ts.ScriptTarget.Latest, true);
  const seen = new Map<number, string>();
  const visit = (node: ts.Node): void => {
    for (const r of [...(ts.getLeadingCommentRanges(text, node.pos) ?? []), ...(ts.getTrailingCommentRanges(text, node.end) ?? [])]) {
      seen.set(r.pos, text.slice(r.pos, r.end));
    }
    node.forEachChild(visit);
  };
  visit(sf);
  visit(sf.endOfFileToken);
  return [...seen.values()];
}

/** The relative specifiers a file imports, re-exports or import()s. */
function relativeImports(rel: string): string[] {
  const info = ts.preProcessFile(readFileSync(path.join(projectRoot, rel), 'utf8'), true, true);
  return info.importedFiles.map((f) => f.fileName).filter((s) => s.startsWith('.'));
}

const resolved = (from: string, spec: string): string =>
  path.posix.normalize(path.posix.join(path.posix.dirname(from), spec)).replace(/\.js$/, '.ts');

describe('layers', () => {
  const files = tsFiles(Object.keys(LAYER_RANK));

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

  it('code comments cite docs/ pages of this repository, not sections of notes outside it', () => {
    const bad: string[] = [];
    for (const f of tsFiles([...Object.keys(LAYER_RANK), 'test', 'bench'])) {
      for (const c of comments(f)) {
        // a section sign is fine after a public spec (RFC 9113 §4, §6.5.2), not after a notes file
        const rest = c.replace(/RFC \d+ §[\d.]+(,\s*§[\d.]+)*/g, '');
        for (const m of rest.matchAll(/\S*\s*§[\w.-]*/g)) bad.push(`${f}: ${m[0]}`);
        for (const m of c.matchAll(/\b(?:shared|reference)\/[\w./-]+/g)) bad.push(`${f}: ${m[0]}`);
        for (const m of c.matchAll(/[\w./-]*\b[\w-]+\.md\b/g)) {
          const name = m[0];
          if (!existsSync(path.join(projectRoot, name)) && !existsSync(path.join(projectRoot, 'docs', name))) bad.push(`${f}: ${name}`);
        }
      }
    }
    expect(bad).toEqual([]);
  });
});
