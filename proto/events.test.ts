// The event registry, Any and timestamp helpers, checked against the Forward call the real
// containerd-shim-runc-v2 1.6.20 made for a TaskExit (docs/proto.md "Tests").
import { describe, expect, it } from 'vitest';
import {
  CGROUPS_V1_METRICS_TYPE_URL, CGROUPS_V2_METRICS_TYPE_URL,
  GO_ZERO_TIME_SECONDS, OCI_PROCESS_TYPE_URL, google, TASK_EVENT_TYPES, TASK_EVENT_TYPE_URLS, containerd, decodeEnvelopeEvent,
  encodeEvent, eventsServiceMethods, EVENTS_SERVICE, fromTimestamp, packJson, packMessage, RUNC_OPTIONS_TYPE_URL,
  taskServiceMethods, TASK_SERVICE, toTimestamp, topicOfTypeUrl, ttrpc, unpackJson, unpackMessage,
} from './index.js';
import { io, unpackCgroupMetrics } from './metrics.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const bytes = (h: string) => new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'));
const ascii = (s: string) => Buffer.from(s, 'latin1').toString('hex');
const envelopeType = containerd.services.events.ttrpc.v1;

// The reference shows the 12 exited_at bytes of this TaskExit as "<timestamp>"; the same
// exit's Wait reply carried exited_at = 08 e8 9a 99 d8 06 10 9c ec da f1 02, used here.
const EXITED_AT = '08e89a99d806109cecdaf102';
const TASK_EXIT = '0a02' + ascii('c1') + '1202' + ascii('c1') + '18fbaa01' + '2003' + '2a0c' + EXITED_AT;
const EVENT_ANY = '0a1a' + ascii('containerd.events.TaskExit') + '121c' + TASK_EXIT;
const ENVELOPE = '0a0c08e89a99d806108899ddf102' + '1207' + ascii('default') + '1a0b' + ascii('/tasks/exit') + '223a' + EVENT_ANY;
const FORWARD_REQUEST =
  '0a2a' + ascii('containerd.services.events.ttrpc.v1.Events') + '1207' + ascii('Forward') + '1a620a60' + ENVELOPE +
  '2091de96d012' + '2a250a1a' + ascii('containerd-namespace-ttrpc') + '1207' + ascii('default');

describe('observed Events/Forward of a TaskExit', () => {
  it('decodes into the envelope and a typed TaskExit', () => {
    expect(FORWARD_REQUEST.length / 2).toBe(0xc6);
    const req = ttrpc.Request.decode(bytes(FORWARD_REQUEST));
    expect([req.service, req.method]).toEqual([EVENTS_SERVICE, 'Forward']);
    expect(req.timeoutNano).toBe(4_999_982_865);
    expect(req.metadata.map((kv) => [kv.key, kv.value])).toEqual([['containerd-namespace-ttrpc', 'default']]);
    const fwd = eventsServiceMethods.Forward.requestType.decode(req.payload);
    const env = fwd.envelope!;
    expect([env.namespace, env.topic]).toEqual(['default', '/tasks/exit']);
    expect(fromTimestamp(env.timestamp)).toBeInstanceOf(Date);
    const ev = decodeEnvelopeEvent(env);
    expect(ev.topic).toBe('/tasks/exit');
    if (ev.topic !== '/tasks/exit') throw new Error('unreachable');
    expect([ev.event.containerId, ev.event.id, ev.event.pid, ev.event.exitStatus]).toEqual(['c1', 'c1', 21883, 3]);
    expect(ev.event.exitedAt?.seconds).toBe(1795575144);
  });

  it('is rebuilt byte for byte by encodeEvent + the generated classes', () => {
    const { topic, event } = encodeEvent({
      topic: '/tasks/exit',
      event: { containerId: 'c1', id: 'c1', pid: 21883, exitStatus: 3, exitedAt: google.protobuf.Timestamp.decode(bytes(EXITED_AT)) },
    });
    const timestamp = google.protobuf.Timestamp.decode(bytes('08e89a99d806108899ddf102'));
    const envelope = { timestamp, namespace: 'default', topic, event };
    const payload = envelopeType.ForwardRequest.encode({ envelope }).finish();
    const req = ttrpc.Request.encode({
      service: EVENTS_SERVICE, method: 'Forward', payload, timeoutNano: 4_999_982_865,
      metadata: [{ key: 'containerd-namespace-ttrpc', value: 'default' }],
    }).finish();
    expect(hex(req)).toBe(FORWARD_REQUEST);
  });
});

describe('event registry', () => {
  it('maps every Task* topic to its bare type URL and class', () => {
    for (const [topic, url] of Object.entries(TASK_EVENT_TYPE_URLS)) {
      expect(url).toMatch(/^containerd\.events\.Task[A-Za-z]+$/);
      expect(topicOfTypeUrl(url)).toBe(topic);
      expect(TASK_EVENT_TYPES[topic as keyof typeof TASK_EVENT_TYPES]).toBe(
        (containerd.events as Record<string, unknown>)[url.slice('containerd.events.'.length)],
      );
    }
    expect(Object.keys(TASK_EVENT_TYPE_URLS)).toHaveLength(10);
    expect(topicOfTypeUrl('type.googleapis.com/containerd.events.TaskExit')).toBeUndefined();
  });

  it('round-trips every event through an envelope', () => {
    const e = encodeEvent({ topic: '/tasks/exec-started', event: { containerId: 'c', execId: 'e', pid: 9 } });
    const back = decodeEnvelopeEvent({ topic: e.topic, event: e.event });
    expect(back).toMatchObject({ topic: '/tasks/exec-started', event: { containerId: 'c', execId: 'e', pid: 9 } });
  });

  it('rejects unknown types, mismatched topics, empty and malformed events as invalid-argument', () => {
    const exit = encodeEvent({ topic: '/tasks/exit', event: { containerId: 'c' } });
    const cases = [
      { topic: '/tasks/exit' },
      { topic: '/tasks/exit', event: { type_url: 'containerd.events.Nope', value: new Uint8Array(0) } },
      { topic: '/tasks/start', event: exit.event },
      { topic: '/tasks/exit', event: { type_url: exit.event.type_url, value: bytes('0a 05 63') } },
    ];
    for (const env of cases) expect(() => decodeEnvelopeEvent(env)).toThrow(expect.objectContaining({ kind: 'invalid-argument' }));
    expect(() => encodeEvent({ topic: '/tasks/nope', event: {} } as never)).toThrow(expect.objectContaining({ kind: 'invalid-argument' }));
  });
});

describe('Any and timestamps', () => {
  it('packs and unpacks protobuf and JSON Anys', () => {
    const opts = containerd.runc.v1.Options;
    const any = packMessage(RUNC_OPTIONS_TYPE_URL, opts, { binaryName: 'crun', systemdCgroup: true });
    expect(any.type_url).toBe('containerd.runc.v1.Options');
    expect(unpackMessage(any, RUNC_OPTIONS_TYPE_URL, opts).binaryName).toBe('crun');
    expect(() => unpackMessage(any, 'containerd.runc.v1.CheckpointOptions', opts)).toThrow(expect.objectContaining({ kind: 'invalid-argument' }));
    const spec = packJson(OCI_PROCESS_TYPE_URL, { args: ['sh'], cwd: '/' });
    expect(unpackJson<{ args: string[] }>(spec).args).toEqual(['sh']);
    expect(() => unpackJson({ type_url: OCI_PROCESS_TYPE_URL, value: bytes('7b') })).toThrow(expect.objectContaining({ kind: 'invalid-argument' }));
  });

  it('applies Go zero-time rules', () => {
    expect(toTimestamp(undefined)).toEqual({ seconds: GO_ZERO_TIME_SECONDS, nanos: 0 });
    expect(toTimestamp(new Date(1500))).toEqual({ seconds: 1, nanos: 500_000_000 });
    expect(toTimestamp(new Date(-1500))).toEqual({ seconds: -2, nanos: 500_000_000 });
    expect(fromTimestamp({ seconds: GO_ZERO_TIME_SECONDS })).toBeUndefined();
    expect(fromTimestamp({ seconds: 0, nanos: 5 })).toBeUndefined();
    expect(fromTimestamp(null)).toBeUndefined();
    expect(fromTimestamp({ seconds: 1, nanos: 999_999_999 })?.getTime()).toBe(1999);
    expect(() => toTimestamp(new Date(NaN))).toThrow(expect.objectContaining({ kind: 'invalid-argument' }));
  });
});

describe('cgroup metrics in a Stats reply', () => {
  it('decodes v1 and v2 metrics by type URL and refuses others', () => {
    const v1m = io.containerd.cgroups.v1.Metrics;
    const v2m = io.containerd.cgroups.v2.Metrics;
    const a = unpackCgroupMetrics(packMessage(CGROUPS_V1_METRICS_TYPE_URL, v1m, { memory: { totalInactiveFile: 4096, usage: { usage: 8192 } } }));
    expect(a.cgroup).toBe(1);
    if (a.cgroup !== 1) throw new Error('unreachable');
    expect([a.metrics.memory?.usage?.usage, a.metrics.memory?.totalInactiveFile]).toEqual([8192, 4096]);
    const b = unpackCgroupMetrics(packMessage(CGROUPS_V2_METRICS_TYPE_URL, v2m, { cpu: { usageUsec: 12 } }));
    expect(b.cgroup === 2 && b.metrics.cpu?.usageUsec).toBe(12);
    expect(() => unpackCgroupMetrics({ type_url: 'x', value: new Uint8Array(0) })).toThrow(expect.objectContaining({ kind: 'invalid-argument' }));
    expect(() => unpackCgroupMetrics(undefined)).toThrow(expect.objectContaining({ kind: 'invalid-argument' }));
  });
});

describe('method tables', () => {
  it('cover the 17 Task methods with Empty replies where containerd has them', () => {
    expect(TASK_SERVICE).toBe('containerd.task.v2.Task');
    expect(Object.keys(taskServiceMethods)).toEqual([
      'State', 'Create', 'Start', 'Delete', 'Pids', 'Pause', 'Resume', 'Checkpoint', 'Kill', 'Exec',
      'ResizePty', 'CloseIO', 'Update', 'Wait', 'Stats', 'Connect', 'Shutdown',
    ]);
    const empties = Object.entries(taskServiceMethods)
      .filter(([, m]) => (m.responseType as unknown) === google.protobuf.Empty)
      .map(([n]) => n);
    expect(empties).toEqual(['Pause', 'Resume', 'Checkpoint', 'Kill', 'Exec', 'ResizePty', 'CloseIO', 'Update', 'Shutdown']);
    expect(taskServiceMethods.Wait.requestType).toBe(containerd.task.v2.WaitRequest);
  });

  it('are typed: requests as plain objects, replies with their fields', () => {
    const req: Parameters<typeof taskServiceMethods.Create.requestType.encode>[0] = { id: 'c', bundle: '/b', rootfs: [{ type: 'bind' }] };
    const bytesOut = taskServiceMethods.Create.requestType.encode(req).finish();
    const res = taskServiceMethods.Create.requestType.decode(bytesOut);
    expect(res.rootfs?.[0]?.type).toBe('bind');
  });
});
