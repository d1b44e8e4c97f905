// The layer rule of docs/architecture.md, for eslint (eslint.config.js registers it as
// `berth/layers`) and for test/layers.test.ts, which runs the same check over every import in
// the tree. A layer imports only the layers below it, another layer only through its door
// (`<layer>/index.ts`, or one of the few extra doors below), and inside a layer another folder
// only through that folder's index.ts. test/, bench/ and scripts/ may import anything; tests and
// test data beside a layer may reach behind doors but not up.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Top to bottom; a layer may import only layers of a lower rank (image and taskmanager are peers). */
export const LAYER_RANK = Object.freeze({ cli: 7, cri: 6, image: 5, taskmanager: 5, shim: 4, proto: 3, sys: 2, common: 1 });

/** Doors beside `<layer>/index.ts`, each kept apart for a reason docs/architecture.md gives. */
export const EXTRA_DOORS = Object.freeze([
  'proto/cri.ts', // the CRI messages and grpc-js: never on the shim's path
  'proto/cri-wire.ts', // the same without the grpc-js client: what the daemon serves with (docs/grpc.md)
  'proto/metrics.ts', // cgroup metrics: loaded on a shim's first Stats, not at its start
  'common/esbuild.ts', // build-time only
  'common/objects.ts', // the daemon's code-cache loader, which runs before the bundle and stays small
]);

const ORDER = 'cli -> cri -> image, taskmanager -> shim -> proto -> sys -> common';

/** Test code beside a layer: `*.test.ts` and anything under a `testdata/` folder. */
export function isTestFile(rel) {
  return rel.endsWith('.test.ts') || rel.split('/').includes('testdata');
}

/**
 * Why importing `spec` from the repository-relative file `from` breaks the layout, or undefined.
 * Package imports (`node:fs`, `koffi`) are not checked.
 */
export function layerViolation(from, spec) {
  if (!spec.startsWith('.')) return undefined;
  const layer = from.split('/')[0];
  if (!(layer in LAYER_RANK)) return undefined;
  const target = path.posix.normalize(path.posix.join(path.posix.dirname(from), spec)).replace(/\.js$/, '.ts');
  const targetLayer = target.split('/')[0];
  const test = isTestFile(from);
  if (!(targetLayer in LAYER_RANK)) {
    return test ? undefined : `${from} imports ${target}: a layer imports only layers below it, never test/, bench/ or scripts/`;
  }
  if (targetLayer !== layer) {
    if (LAYER_RANK[targetLayer] >= LAYER_RANK[layer]) {
      return `${from} imports ${target}: ${layer}/ may import only the layers below it (${ORDER})`;
    }
    if (test || target === `${targetLayer}/index.ts` || EXTRA_DOORS.includes(target)) return undefined;
    return `${from} imports ${target}, behind the door of ${targetLayer}/: import ${targetLayer}/index.ts`;
  }
  if (test) return undefined;
  const fromDir = path.posix.dirname(from);
  const toDir = path.posix.dirname(target);
  // the same folder, a file of an enclosing folder, or generated code
  if (fromDir === toDir || fromDir.startsWith(`${toDir}/`) || target.split('/').includes('gen')) return undefined;
  if (target === `${toDir}/index.ts`) return undefined;
  return `${from} imports ${target}, behind the door of ${toDir}/: import ${toDir}/index.ts`;
}

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

/** The eslint rule: every import, export-from and dynamic import(). */
export const layersRule = {
  meta: {
    type: 'problem',
    docs: { description: 'layers import only downward, through each folder\'s index.ts (docs/architecture.md)' },
    schema: [],
  },
  create(context) {
    const from = path.relative(ROOT, context.filename).split(path.sep).join('/');
    const check = (node) => {
      const source = node.source;
      if (!source || source.type !== 'Literal' || typeof source.value !== 'string') return;
      const why = layerViolation(from, source.value);
      if (why) context.report({ node: source, message: why });
    };
    return { ImportDeclaration: check, ExportNamedDeclaration: check, ExportAllDeclaration: check, ImportExpression: check };
  },
};
