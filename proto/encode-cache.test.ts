import { describe, expect, it } from 'vitest';
import { runtime } from './gen/cri.js';
import { encodeWithCache, encodedMessage } from './encode-cache.js';
import { serviceDefinition, runtimeServiceMethods } from './cri-services.js';

const v1 = runtime.v1;

function container(id: string, state = v1.ContainerState.CONTAINER_RUNNING) {
  return Object.freeze({
    id, podSandboxId: 'p1', metadata: Object.freeze({ name: `n-${id}`, attempt: 2 }), image: Object.freeze({ image: 'busybox' }),
    imageRef: 'sha256:abc', state, createdAt: '1700000000123456789' as unknown as number,
    labels: Object.freeze({ a: 'b' }), annotations: Object.freeze({ c: 'd' }),
  });
}

describe('encode cache', () => {
  it('gives bytes that decode to what the plain encoder gives, cached fields first', () => {
    const containers = [container('c1'), container('c2', v1.ContainerState.CONTAINER_EXITED)];
    const bytes = encodeWithCache(v1.ListContainersResponse, { containers }, [
      { name: 'containers', field: 1, type: v1.Container, repeated: true },
    ]);
    expect(Buffer.from(bytes)).toEqual(Buffer.from(v1.ListContainersResponse.encode({ containers }).finish()));
    const back = v1.ListContainersResponse.decode(bytes);
    expect(back.containers.map((c) => [c.id, c.state, c.metadata?.attempt, c.labels?.a])).toEqual([['c1', 1, 2, 'b'], ['c2', 2, 2, 'b']]);
  });

  it('keeps bytes only for frozen messages, so a mutable object is always encoded afresh', () => {
    const frozen = container('c1');
    expect(encodedMessage(v1.Container, frozen)).toBe(encodedMessage(v1.Container, frozen));
    const open: { id: string } = { id: 'x' };
    const first = encodedMessage(v1.Container, open);
    open.id = 'y';
    expect(v1.Container.decode(encodedMessage(v1.Container, open)).id).toBe('y');
    expect(v1.Container.decode(first).id).toBe('x');
  });

  it('keeps cached bytes in buffers of their own, never views into Buffer\'s shared pool', () => {
    // A kept view would hold a whole pool slab (64 KiB on Node 24) for the record's life.
    const fields = [{ name: 'containers', field: 1, type: v1.Container, repeated: true }];
    const frozen = Object.freeze([container('c7'), container('c8')]);
    const list = encodeWithCache(v1.ListContainersResponse, { containers: frozen }, fields);
    const one = encodedMessage(v1.Container, frozen[0]!);
    for (const b of [list, one]) {
      expect(b.buffer.byteLength).toBe(b.byteLength);
      expect(Buffer.isBuffer(b)).toBe(true);
    }
    expect(v1.Container.decode(one).id).toBe('c7');
    // Not cached (a mutable message): whatever the encoder gives, pooled or not.
    expect(v1.Container.decode(encodedMessage(v1.Container, { id: 'x' })).id).toBe('x');
  });

  it('is what the grpc-js definitions serialize with: a status and its verbose info in one message', () => {
    const def = serviceDefinition('runtime.v1.RuntimeService', runtimeServiceMethods);
    const status = Object.freeze({ id: 'c1', state: v1.ContainerState.CONTAINER_CREATED, reason: '', exitCode: 0 });
    const out = def.ContainerStatus!.responseSerialize({ status, info: { info: '{"pid":7}' } });
    const back = v1.ContainerStatusResponse.decode(out);
    expect([back.status?.id, back.status?.state, back.info.info]).toEqual(['c1', 0, '{"pid":7}']);
    const empty = v1.ListContainersResponse.decode(def.ListContainers!.responseSerialize({ containers: [] }));
    expect(empty.containers).toEqual([]);
  });

  it('caches a list-only reply whole when its array is frozen, and only then', () => {
    const fields = [{ name: 'containers', field: 1, type: v1.Container, repeated: true }];
    const frozen = Object.freeze([container('c1'), container('c2')]);
    const first = encodeWithCache(v1.ListContainersResponse, { containers: frozen }, fields);
    expect(encodeWithCache(v1.ListContainersResponse, { containers: frozen }, fields)).toBe(first);
    expect(Buffer.from(first)).toEqual(Buffer.from(v1.ListContainersResponse.encode({ containers: [...frozen] }).finish()));
    // The same elements in a new array: encoded afresh (same bytes, another buffer).
    const again = encodeWithCache(v1.ListContainersResponse, { containers: Object.freeze([...frozen]) }, fields);
    expect(again).not.toBe(first);
    expect(Buffer.from(again)).toEqual(Buffer.from(first));
    // A mutable array is never cached: a change shows at once.
    const open = [container('c1')];
    const one = encodeWithCache(v1.ListContainersResponse, { containers: open }, fields);
    open.push(container('c3'));
    expect(v1.ListContainersResponse.decode(encodeWithCache(v1.ListContainersResponse, { containers: open }, fields)).containers.map((c) => c.id)).toEqual(['c1', 'c3']);
    expect(v1.ListContainersResponse.decode(one).containers.map((c) => c.id)).toEqual(['c1']);
  });

  it('does not take the whole-reply cache when the reply has another field set', () => {
    const fields = [{ name: 'containersStatuses', field: 3, type: v1.ContainerStatus, repeated: true }];
    const statuses = Object.freeze([Object.freeze({ id: 'c1', state: 1 })]);
    const a = encodeWithCache(v1.PodSandboxStatusResponse, { status: Object.freeze({ id: 'p1' }), containersStatuses: statuses }, fields);
    const b = encodeWithCache(v1.PodSandboxStatusResponse, { status: Object.freeze({ id: 'p2' }), containersStatuses: statuses }, fields);
    expect(v1.PodSandboxStatusResponse.decode(a).status?.id).toBe('p1');
    expect(v1.PodSandboxStatusResponse.decode(b).status?.id).toBe('p2');
    expect(v1.PodSandboxStatusResponse.decode(b).containersStatuses.map((c) => c.id)).toEqual(['c1']);
  });
});
