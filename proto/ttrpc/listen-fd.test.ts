// A server handed an already-listening socket as fd 3 (how a shim gets its socket from `start`).
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { bundleEntry } from '../../test/helpers/bundle.js';
import { TtrpcClient, createServiceClient } from './index.js';
import type { MessageType } from '../message-type.js';

const json: MessageType<{ text: string }> = {
  encode: (m) => ({ finish: () => Buffer.from(JSON.stringify(m)) }),
  decode: (b) => JSON.parse(Buffer.from(b).toString('utf8')) as { text: string },
};

describe('TtrpcServer.listen({ fd })', () => {
  let child: ChildProcess | undefined;
  let client: TtrpcClient | undefined;
  afterEach(async () => {
    await client?.close();
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child!.once('exit', r));
      child.kill('SIGKILL');
      await gone;
    }
    child = undefined;
  });

  it('serves calls on an inherited listening socket', async () => {
    const entry = await bundleEntry('proto/ttrpc/testdata/fd-server.ts');
    // An abstract name: closing our copy of the listener does not unlink anything.
    const name = `berth-test-fd-${process.pid}-${Math.random().toString(36).slice(2)}`;
    const listener = net.createServer();
    await new Promise<void>((r) => listener.listen({ path: `\0${name}` }, r));
    const fd = (listener as unknown as { _handle?: { fd?: number } })._handle?.fd;
    expect(fd).toBeGreaterThan(2);
    const proc = spawn(process.execPath, [entry], { stdio: ['ignore', 'pipe', 'inherit', fd!] });
    child = proc;
    await new Promise<void>((resolve, reject) => {
      proc.once('exit', (code) => reject(new Error(`fd server exited early (${code})`)));
      proc.stdout!.once('data', () => resolve());
    });
    await new Promise((r) => listener.close(r));

    client = await TtrpcClient.connect(name);
    const echo = createServiceClient(client, 'berth.test.v1.Echo', { Echo: { requestType: json, responseType: json } });
    expect((await echo.Echo({ text: 'hi' }, { timeoutMs: 5_000 })).text).toBe(`fd3 hi from ${proc.pid}`);
  });
});
