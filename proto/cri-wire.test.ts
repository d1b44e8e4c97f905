// berth's CRI is wire-identical to the CRI of Kubernetes 1.36: every message, field (name, number,
// type), enum value and method of proto/defs/runtime/v1/api.proto equals upstream's list, checked
// in as proto/testdata/cri-upstream-fields.json (written by scripts/cri-fields.mjs from upstream's
// api.proto; docs/proto.md), and the generated module and method tables agree with that list too.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { describeCri, parseCri, type CriShape } from '../scripts/cri-fields.mjs';
import { imageServiceMethods, runtime, runtimeServiceMethods, type CriMethodTable } from './cri.js';

const here = path.dirname(new URL(import.meta.url).pathname);
const upstream = JSON.parse(readFileSync(path.join(here, 'testdata/cri-upstream-fields.json'), 'utf8')) as CriShape & {
  source: { commit: string; kubernetes: string; dropped: Record<string, string> };
};
const berthText = readFileSync(path.join(here, 'defs/runtime/v1/api.proto'), 'utf8');

/** Every difference between two shapes, one readable line each ("only in berth", "differs"). */
function differences(want: CriShape, got: CriShape): string[] {
  const out: string[] = [];
  for (const group of ['messages', 'enums', 'services'] as const) {
    const w = want[group] as Record<string, Record<string, unknown>>;
    const g = got[group] as Record<string, Record<string, unknown>>;
    for (const name of new Set([...Object.keys(w), ...Object.keys(g)])) {
      if (!w[name]) { out.push(`${group} ${name}: only in berth`); continue; }
      if (!g[name]) { out.push(`${group} ${name}: missing in berth`); continue; }
      for (const member of new Set([...Object.keys(w[name]), ...Object.keys(g[name])])) {
        const [a, b] = [JSON.stringify(w[name][member]), JSON.stringify(g[name][member])];
        if (a === undefined) out.push(`${name}.${member}: only in berth (${b})`);
        else if (b === undefined) out.push(`${name}.${member}: missing in berth (upstream ${a})`);
        else if (a !== b) out.push(`${name}.${member}: berth ${b}, upstream ${a}`);
      }
    }
  }
  return out;
}

const berth = (text = berthText) => describeCri(parseCri(text));

describe('runtime.v1 api.proto against Kubernetes 1.36 (proto/testdata/cri-upstream-fields.json)', () => {
  it('names the upstream file it was made from and what it left out', () => {
    expect(upstream.source.kubernetes).toBe('1.36');
    expect(upstream.source.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(Object.keys(upstream.source.dropped).sort()).toEqual(['AttachRequest.audit_request_id', 'ExecRequest.audit_request_id']);
  });

  it('has exactly upstream messages, fields (name, number, type), enum values and methods', () => {
    expect(differences(upstream, berth())).toEqual([]);
    // The list is the whole CRI, not a handful: 170 messages, 66 signals, 41 methods.
    expect(Object.keys(upstream.messages)).toHaveLength(170);
    expect(Object.keys(upstream.enums.Signal!)).toHaveLength(66);
    expect(Object.keys(upstream.services.RuntimeService!).length + Object.keys(upstream.services.ImageService!).length).toBe(41);
  });

  it('reports a field renamed, renumbered, retyped or added only on berth side', () => {
    const edit = (from: string, to: string) => {
      expect(berthText).toContain(from);
      return differences(upstream, berth(berthText.replace(from, to)));
    };
    expect(edit('  bool stderr = 6;\n}', '  bool stderr = 6;\n  string audit_request_id = 7;\n}'))
      .toEqual(['ExecRequest.audit_request_id: only in berth ({"number":7,"type":"string"})']);
    expect(edit('  string image_id = 10;', '  string image_id = 11;'))
      .toEqual(['Container.image_id: berth {"number":11,"type":"string"}, upstream {"number":10,"type":"string"}']);
    expect(edit('  bool pinned = 8;', '  bool pin = 8;')).toEqual([
      'Image.pinned: missing in berth (upstream {"number":8,"type":"bool"})', 'Image.pin: only in berth ({"number":8,"type":"bool"})',
    ]);
    expect(edit('  Signal stop_signal = 18;', '  int32 stop_signal = 18;'))
      .toEqual(['ContainerConfig.stop_signal: berth {"number":18,"type":"int32"}, upstream {"number":18,"type":"Signal"}']);
    expect(edit('  CGROUPFS = 1;', '  CGROUPFS = 2;')).toEqual(['CgroupDriver.CGROUPFS: berth 2, upstream 1']);
  });
});

const WIRE_VARINT = 0;
const WIRE_64 = 1;
const WIRE_LEN = 2;
const WIRE_32 = 5;
const SCALAR: Record<string, { value: unknown; wire: number }> = {
  string: { value: 'x', wire: WIRE_LEN }, bytes: { value: Uint8Array.of(7), wire: WIRE_LEN }, bool: { value: true, wire: WIRE_VARINT },
  int32: { value: 1, wire: WIRE_VARINT }, int64: { value: 1, wire: WIRE_VARINT }, uint32: { value: 1, wire: WIRE_VARINT },
  uint64: { value: 1, wire: WIRE_VARINT }, sint32: { value: 1, wire: WIRE_VARINT }, sint64: { value: 1, wire: WIRE_VARINT },
  double: { value: 1.5, wire: WIRE_64 }, fixed64: { value: 1, wire: WIRE_64 }, sfixed64: { value: 1, wire: WIRE_64 },
  float: { value: 1.5, wire: WIRE_32 }, fixed32: { value: 1, wire: WIRE_32 }, sfixed32: { value: 1, wire: WIRE_32 },
};

/** A non-default value of `type` and the wire type it goes out as (packed when repeated). */
function sample(type: string): { value: unknown; wire: number } {
  const map = /^map<(\w+),(\w+)>$/.exec(type);
  if (map) return { value: { k: sample(map[2]!).value }, wire: WIRE_LEN };
  if (type.startsWith('repeated ')) return { value: [sample(type.slice('repeated '.length)).value], wire: WIRE_LEN };
  if (SCALAR[type]) return SCALAR[type];
  if (upstream.enums[type]) return { value: 1, wire: WIRE_VARINT };
  if (upstream.messages[type]) return { value: {}, wire: WIRE_LEN };
  throw new Error(`unknown type ${type}`);
}

/** The generated class or enum object for a package-relative name (`SecurityProfile.ProfileType`). */
function generated(name: string): any {
  return name.split('.').reduce<any>((o, part) => o?.[part], runtime.v1);
}

describe('the generated module (proto/gen/cri.js) against the upstream list', () => {
  it('has exactly upstream fields, each encoded under its number and wire type', () => {
    const wrong: string[] = [];
    for (const [message, fields] of Object.entries(upstream.messages)) {
      const cls = generated(message);
      if (!cls?.encode) { wrong.push(`${message}: no generated class`); continue; }
      // The generated class has exactly upstream's fields (its prototype carries their defaults).
      const props = Object.keys(cls.prototype).filter((k) => typeof cls.prototype[k] !== 'function').sort();
      const want = Object.keys(fields).map((f) => protobuf.util.camelCase(f)).sort();
      if (JSON.stringify(props) !== JSON.stringify(want)) wrong.push(`${message}: generated fields ${props.join(',')}, want ${want.join(',')}`);
      for (const [field, { number, type }] of Object.entries(fields)) {
        const { value, wire } = sample(type);
        const bytes: Uint8Array = cls.encode({ [protobuf.util.camelCase(field)]: value }).finish();
        const tag = protobuf.Reader.create(bytes).uint32();
        if (tag >>> 3 !== number || (tag & 7) !== wire) wrong.push(`${message}.${field}: tag ${tag >>> 3}/${tag & 7}, want ${number}/${wire}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('has every upstream enum value', () => {
    const wrong: string[] = [];
    for (const [name, values] of Object.entries(upstream.enums)) {
      const e = generated(name) as Record<string, number> | undefined;
      for (const [v, n] of Object.entries(values)) if (e?.[v] !== n) wrong.push(`${name}.${v}: ${e?.[v]}, want ${n}`);
    }
    expect(wrong).toEqual([]);
  });

  it('pairs each method of the service tables with upstream request, response and streaming', () => {
    const tables: Record<string, CriMethodTable> = { RuntimeService: runtimeServiceMethods, ImageService: imageServiceMethods };
    for (const [service, methods] of Object.entries(upstream.services)) {
      const table = tables[service]!;
      expect(Object.keys(table).sort()).toEqual(Object.keys(methods).sort());
      for (const [name, m] of Object.entries(methods)) {
        expect([table[name]!.requestType, table[name]!.responseType, table[name]!.responseStream])
          .toEqual([generated(m.request), generated(m.response), m.stream]);
      }
    }
  });
});
