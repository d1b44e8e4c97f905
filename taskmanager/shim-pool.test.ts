// The shim connection's state machine over a real ttrpc socket: a connection the shim closes is
// `dead` and reported once; one we close is `closing` -> `closed` and never reported; moves not
// allowed from the current state change nothing.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TtrpcServer } from '../proto/index.js';
import { ShimPool, type ShimConn } from './shim-pool.js';

let dir: string;
let server: TtrpcServer;
let address: string;
let dead: ShimConn[];
let pool: ShimPool;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'berth-shim-pool-'));
  address = `unix://${path.join(dir, 's.sock')}`;
  server = new TtrpcServer();
  await server.listen(path.join(dir, 's.sock'));
  dead = [];
  pool = new ShimPool({ callTimeoutMs: 1_000, connectTimeoutMs: 1_000, onDead: (c) => { dead.push(c); } });
});
afterEach(async () => {
  await pool.closeAll();
  server.destroy();
  await rm(dir, { recursive: true, force: true });
});

describe('ShimConn', () => {
  it('is dead, once, when the shim closes the connection; a new acquire dials again', async () => {
    const conn = await pool.acquire(address, 'ns', '/bin/shim');
    expect(conn.state.kind).toBe('connected');
    expect(conn.shimPid).toBeUndefined();
    conn.ready(42);
    conn.ready(43); // the first answer wins
    expect(conn.state).toEqual({ kind: 'ready', shimPid: 42 });
    expect(await pool.acquire(address, 'ns', '/bin/shim')).toBe(conn);
    server.destroy(); // the shim goes away
    await expect.poll(() => conn.state.kind).toBe('dead');
    expect(conn.usable).toBe(false);
    expect(dead).toEqual([conn]);
    expect(conn.transition(['connected', 'ready'], { kind: 'dead', cause: undefined })).toBe(false);
    expect(conn.transition(['connected', 'ready'], { kind: 'closing' })).toBe(false);
    expect(dead).toHaveLength(1);
    expect(pool.all()).toEqual([]);
    server = new TtrpcServer();
    await server.listen(path.join(dir, 's.sock'));
    const again = await pool.acquire(address, 'ns', '/bin/shim');
    expect(again).not.toBe(conn);
    expect(again.usable).toBe(true);
  });

  it('is closing, then closed, when we close it, and never reported dead', async () => {
    const conn = await pool.acquire(address, 'ns', '/bin/shim');
    await pool.release(conn);
    expect(conn.state.kind).toBe('closed');
    expect(conn.usable).toBe(false);
    expect(dead).toEqual([]);
    expect(pool.all()).toEqual([]);
  });
});
