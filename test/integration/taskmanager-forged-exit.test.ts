// Events/Forward takes /tasks/exit only for a process the task manager knows, with the pid it
// knows: a forged exit (pid 0, or another pid) for a running task records nothing, and the
// events socket itself is root-only (docs/security.md).
import { stat } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { EVENTS_SERVICE, encodeEvent, eventsServiceMethods, toTimestamp } from '../../proto/index.js';
import { TtrpcClient, createServiceClient } from '../../proto/ttrpc/index.js';
import { TEST_RUNTIMES, podSpec, rootfsMounts, useTestTaskManager } from '../helpers/tm-daemon-env.js';

const runc = TEST_RUNTIMES[0]!;

describe('forged task exits', () => {
  const ctx = useTestTaskManager(runc);

  it('ignores a /tasks/exit with pid 0 or a pid that is not the task\'s, and keeps the events socket root-only', async () => {
    const { env, tm } = ctx;
    const ns = env.namespace;
    await tm.createTask({ namespace: ns, id: 'victim', runtime: runc.runtime, spec: podSpec(['sleep', '1000'], 'victim'), rootfs: rootfsMounts(env) });
    const pid = await tm.start(ns, 'victim');
    expect(pid).toBeGreaterThan(0);

    expect((await stat(env.ttrpcAddress)).mode & 0o777).toBe(0o600);

    const client = await TtrpcClient.connect(env.ttrpcAddress);
    try {
      const events = createServiceClient(client, EVENTS_SERVICE, eventsServiceMethods);
      // Forward replies once the event has been handled (taskmanager/events-server.ts).
      for (const forgedPid of [0, pid + 1]) {
        const { topic, event } = encodeEvent({
          topic: '/tasks/exit',
          event: { containerId: 'victim', id: 'victim', pid: forgedPid, exitStatus: 0, exitedAt: toTimestamp(new Date()) },
        });
        await events.Forward({ envelope: { timestamp: toTimestamp(new Date()), namespace: ns, topic, event } as never }, { timeoutMs: 5_000 });
      }
    } finally {
      await client.close();
    }
    expect(ctx.exits.get(ns, 'victim')).toBeUndefined();
    expect((await tm.state(ns, 'victim')).status).toBe('running');

    // The real exit still arrives (through Wait and the shim's own event).
    await tm.kill(ns, 'victim', 9);
    expect((await tm.wait(ns, 'victim')).exitStatus).toBe(137);
    await tm.delete(ns, 'victim');
  }, 30_000);
});
