// The generated modules as Node itself loads them (no vitest transform), and the shim's door
// (proto/index.ts) staying free of the CRI module and grpc-js.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

describe('generated modules', () => {
  it('load side by side as plain ESM in node, each under its own root, int64 as numbers', () => {
    const script = `
      import pb from 'protobufjs/minimal.js';
      import { google } from './proto/gen/containerd.js';
      import { runtime } from './proto/gen/cri.js';
      const ts = google.protobuf.Timestamp.decode(google.protobuf.Timestamp.encode({ seconds: -62135596800 }).finish());
      const st = runtime.v1.ContainerStatus.decode(runtime.v1.ContainerStatus.encode({ startedAt: 2 ** 40 }).finish());
      console.log(JSON.stringify({
        roots: Object.keys(pb.roots).sort(), seconds: ts.seconds, type: typeof ts.seconds, startedAt: st.startedAt,
      }));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({
      roots: ['berth_containerd', 'berth_cri'], seconds: -62135596800, type: 'number', startedAt: 2 ** 40,
    });
  });

  it('keep the CRI module and grpc-js out of a bundle of proto/index.ts', async () => {
    const res = await build({
      entryPoints: [path.join(root, 'proto/index.ts')],
      bundle: true, platform: 'node', format: 'esm', write: false, metafile: true, logLevel: 'silent',
    });
    const inputs = Object.keys(res.metafile.inputs);
    expect(inputs).toContain('proto/gen/containerd.js');
    expect(inputs.filter((f) => f.includes('gen/cri') || f.includes('@grpc') || f.includes('cri-'))).toEqual([]);
  });

  it('keep grpc-js and node:http2 out of the daemon: it serves the CRI with cri/grpc (docs/grpc.md)', async () => {
    const res = await build({
      entryPoints: [path.join(root, 'cli/berth.ts')],
      bundle: true, platform: 'node', format: 'esm', write: false, metafile: true, logLevel: 'silent', packages: 'external',
    });
    const inputs = Object.keys(res.metafile.inputs);
    expect(inputs).toContain('cri/grpc/connection.ts');
    const imports = Object.values(res.metafile.inputs).flatMap((i) => i.imports.map((x) => x.path));
    expect(imports.filter((p) => p.includes('@grpc') || p === 'node:http2' || p === 'http2')).toEqual([]);
  }, 60_000);
});
