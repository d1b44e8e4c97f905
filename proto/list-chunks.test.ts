// Stream* replies cut under a byte budget: each message decodes as the Stream*Response, every item
// lands in exactly one message in order, no message passes the budget unless one item alone does.
import { describe, expect, it } from 'vitest';
import { LIST_STREAMS, encodeListChunks, runtime } from './cri.js';

const v1 = runtime.v1;
const container = (i: number, pad = 0) => Object.freeze({
  id: `c${i}`.padEnd(64, '0'), podSandboxId: 'p'.repeat(64), metadata: { name: `ctr-${i}`, attempt: 0 },
  state: v1.ContainerState.CONTAINER_RUNNING, createdAt: 1_700_000_000_000_000_000 + i, annotations: { pad: 'x'.repeat(pad) },
});

describe('encodeListChunks', () => {
  it('cuts a list into messages under the budget, each item once and in order', () => {
    const items = Array.from({ length: 500 }, (_, i) => container(i, i % 7 === 0 ? 3000 : 10));
    const budget = 16 * 1024;
    const chunks = [...encodeListChunks(v1.Container, items, budget)];
    expect(chunks.length).toBeGreaterThan(10);
    for (const c of chunks) expect(c.length).toBeLessThanOrEqual(budget);
    const decoded = chunks.map((c) => v1.StreamContainersResponse.decode(c).containers);
    expect(decoded.every((list) => list.length > 0)).toBe(true);
    expect(decoded.flat().map((c) => c.id)).toEqual(items.map((c) => c.id));
    // a message is the same bytes the generated encoder writes for those items
    const firstLen = decoded[0]!.length;
    expect(chunks[0]).toEqual(Buffer.from(v1.StreamContainersResponse.encode({ containers: items.slice(0, firstLen) }).finish()));
    // and as full as the budget allows: the next item would not have fitted
    const withNext = v1.StreamContainersResponse.encode({ containers: items.slice(0, firstLen + 1) }).finish();
    expect(withNext.length).toBeGreaterThan(budget);
  });

  it('sends an item larger than the budget alone, and nothing for an empty list', () => {
    const items = [container(0), container(1, 40_000), container(2)];
    const chunks = [...encodeListChunks(v1.Container, items, 1024)];
    expect(chunks.map((c) => v1.StreamContainersResponse.decode(c).containers.map((x) => String(x.id).slice(0, 2)))).toEqual([['c0'], ['c1'], ['c2']]);
    expect([...encodeListChunks(v1.Container, [], 1024)]).toEqual([]);
  });

  it('fits every Stream* reply: its only field is number 1, the list reply field repeated of the same item', () => {
    for (const [name, spec] of Object.entries(LIST_STREAMS)) {
      const [reply] = [...encodeListChunks(spec.item, [{}], 1024)];
      const responseType = (v1 as unknown as Record<string, { decode(b: Uint8Array): Record<string, unknown[]> }>)[`${name}Response`]!;
      const decoded = responseType.decode(reply!);
      const fields = Object.keys(decoded).filter((k) => Array.isArray(decoded[k]) && decoded[k]!.length === 1);
      expect(fields, name).toHaveLength(1);
      expect(decoded[fields[0]!]![0], name).toBeInstanceOf(spec.item);
      const listType = (v1 as unknown as Record<string, { encode(m: object): { finish(): Uint8Array }; decode(b: Uint8Array): Record<string, unknown[]> }>)[`${spec.list}Response`]!;
      expect(listType.decode(listType.encode({ [spec.from]: [{}] }).finish())[spec.from]![0], spec.list).toBeInstanceOf(spec.item);
    }
  });
});
