// `<shim> start` as the daemon runs it: the shim binary gets the daemon's Node as BERTH_SHIM_NODE
// (so berth's launcher runs its bundle on the Node the daemon runs on), unless the operator set one.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { shimStart, type ShimCommandContext } from './shim-binary.js';

let dir: string;
let ctx: ShimCommandContext;
const saved = process.env.BERTH_SHIM_NODE;

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-shim-binary-'));
  // A shim that answers `start` with an address made of the node it was told to use.
  const binary = path.join(dir, 'containerd-shim-env-v2');
  await fs.writeFile(binary, '#!/bin/sh\nprintf "unix://%s" "$BERTH_SHIM_NODE"\n', { mode: 0o755 });
  ctx = {
    binary, namespace: 'k8s.io', id: 'task1', bundle: dir, grpcAddress: path.join(dir, 'grpc.sock'),
    ttrpcAddress: path.join(dir, 'ttrpc.sock'), publishBinary: process.execPath,
  };
});
afterEach(async () => {
  if (saved === undefined) delete process.env.BERTH_SHIM_NODE;
  else process.env.BERTH_SHIM_NODE = saved;
  await fs.rm(dir, { recursive: true, force: true });
});

describe('shim start environment', () => {
  it('names the daemon\'s own node binary as BERTH_SHIM_NODE', async () => {
    delete process.env.BERTH_SHIM_NODE;
    expect(await shimStart(ctx, undefined, 10_000)).toBe(`unix://${process.execPath}`);
  });

  it('keeps a BERTH_SHIM_NODE the daemon was started with', async () => {
    process.env.BERTH_SHIM_NODE = '/opt/other-node/bin/node';
    expect(await shimStart(ctx, undefined, 10_000)).toBe('unix:///opt/other-node/bin/node');
  });
});
