import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import type { ChildProcess } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../common/index.js';
import { Runc, type Spawner } from './runc.js';

/** A fake runc whose stdout data arrives only after its 'exit' (as libuv may deliver them). */
function lateOutputSpawner(stdout: string, code = 0): Spawner {
  return () => {
    const child = new EventEmitter() as ChildProcess;
    const out = new PassThrough();
    const err = new PassThrough();
    Object.assign(child, { stdout: out, stderr: err, stdin: null, kill: () => true });
    setTimeout(() => {
      child.emit('exit', code, null);
      setTimeout(() => {
        out.end(stdout);
        err.end();
        setTimeout(() => child.emit('close', code, null), 5);
      }, 5);
    }, 5);
    return child;
  };
}

describe('Runc', () => {
  it('reads all of runc\'s output even when it arrives after the exit', async () => {
    const runc = new Runc({ binary: 'runc', root: '/nonexistent' }, lateOutputSpawner('[11,12]\n'), silentLogger);
    expect(await runc.ps('c')).toEqual([11, 12]);
    const state = new Runc({ binary: 'runc', root: '/nonexistent' }, lateOutputSpawner('{"status":"running","pid":7,"bundle":"/b"}'), silentLogger);
    expect(await state.state('c')).toEqual({ status: 'running', pid: 7, bundle: '/b' });
  });

  it('names runc\'s stderr in a failure that arrives after the exit; a missing container is not-found', async () => {
    const spawner: Spawner = () => {
      const child = lateOutputSpawner('', 1)('runc', [], { stdio: 'pipe' });
      setTimeout(() => (child.stderr as PassThrough).write('container does not exist'), 7);
      return child;
    };
    const runc = new Runc({ binary: 'runc', root: '/nonexistent' }, spawner, silentLogger);
    await expect(runc.kill('c', 9, false)).rejects.toMatchObject({ kind: 'not-found', message: 'runc kill failed: container does not exist' });
  });

  it('names the failed verb once, though runc starts its own message with it too', async () => {
    const runcSays = 'runc create failed: unable to start container process: exec: "nosuch": executable file not found in $PATH';
    const spawner: Spawner = () => {
      const child = lateOutputSpawner('', 1)('runc', [], { stdio: 'pipe' });
      setTimeout(() => (child.stderr as PassThrough).write(runcSays), 7);
      return child;
    };
    const runc = new Runc({ binary: 'runc', root: '/nonexistent' }, spawner, silentLogger);
    const err = (await runc.create('c', '/b', '/b/init.pid', undefined, undefined).then(() => undefined, (e: unknown) => e)) as Error;
    expect(err).toMatchObject({ kind: 'unknown', message: 'runc create failed: unable to start container process: exec: "nosuch": executable file not found in $PATH' });
    expect(err.message.split('create failed:')).toHaveLength(2);
  });
});
