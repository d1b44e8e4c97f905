// The CRI's wire shape as data: every message (field name -> number and type), every enum (value
// name -> number) and every service method (request, response, streaming) of a runtime.v1
// api.proto. proto/cri-wire.test.ts compares berth's proto/defs/runtime/v1/api.proto with the
// upstream list this script writes (proto/testdata/cri-upstream-fields.json); docs/proto.md says
// which upstream file it was made from and how to make it again:
//
//   node scripts/cri-fields.mjs <upstream api.proto> --repo <owner/name> --path <path> \
//     --commit <sha> --kubernetes <version> [--drop <Message.field>=<why> ...] \
//     > proto/testdata/cri-upstream-fields.json
//
// --drop leaves out a field the upstream file has but the named Kubernetes release does not
// (added to master after the release was cut); the output lists each one with its reason.
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';

const PACKAGE = 'runtime.v1';

/** A type reference as the .proto names it, relative to the package: `SecurityProfile.ProfileType`. */
function typeName(field) {
  const resolved = field.resolvedType;
  if (!resolved) return field.type; // a scalar
  const full = resolved.fullName.replace(/^\./, '');
  return full.startsWith(`${PACKAGE}.`) ? full.slice(PACKAGE.length + 1) : full;
}

/** `string`, `repeated int64`, `map<string,string>`, `PodSandboxMetadata`. */
function fieldType(field) {
  if (field.map) return `map<${field.keyType},${typeName(field)}>`;
  return field.repeated ? `repeated ${typeName(field)}` : typeName(field);
}

function relativeName(obj) {
  return obj.fullName.replace(/^\./, '').slice(PACKAGE.length + 1);
}

/** Every message, enum and service under the package, in name order. */
export function describeCri(root) {
  root.resolveAll();
  const ns = root.lookup(PACKAGE);
  if (!ns) throw new Error(`no package ${PACKAGE}`);
  const messages = {};
  const enums = {};
  const services = {};
  const walk = (parent) => {
    for (const obj of parent.nestedArray) {
      if (obj instanceof protobuf.Type) {
        const fields = {};
        for (const f of [...obj.fieldsArray].sort((a, b) => a.id - b.id)) fields[f.name] = { number: f.id, type: fieldType(f) };
        messages[relativeName(obj)] = fields;
        walk(obj);
      } else if (obj instanceof protobuf.Enum) {
        enums[relativeName(obj)] = Object.fromEntries(Object.entries(obj.values).sort((a, b) => a[1] - b[1]));
      } else if (obj instanceof protobuf.Service) {
        const methods = {};
        for (const m of obj.methodsArray) {
          methods[m.name] = { request: typeName({ resolvedType: m.resolvedRequestType }), response: typeName({ resolvedType: m.resolvedResponseType }), stream: m.responseStream === true };
        }
        services[relativeName(obj)] = methods;
      }
    }
  };
  walk(ns);
  const sorted = (o) => Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
  return { messages: sorted(messages), enums: sorted(enums), services: sorted(services) };
}

/** Parses .proto text with field names exactly as written (no camelCase). */
export function parseCri(text) {
  return protobuf.parse(text, { keepCase: true }).root;
}

/** JSON with one line per field, enum value or method, so a diff names the line that changed. */
export function formatCri(doc) {
  const lines = ['{'];
  const entries = Object.entries(doc);
  entries.forEach(([key, value], i) => {
    const comma = i < entries.length - 1 ? ',' : '';
    if (key === 'source') {
      lines.push(`  "source": ${JSON.stringify(value, null, 2).replace(/\n/g, '\n  ')}${comma}`);
      return;
    }
    lines.push(`  ${JSON.stringify(key)}: {`);
    const groups = Object.entries(value);
    groups.forEach(([name, members], j) => {
      lines.push(`    ${JSON.stringify(name)}: {`);
      const rows = Object.entries(members);
      rows.forEach(([m, v], k) => lines.push(`      ${JSON.stringify(m)}: ${JSON.stringify(v)}${k < rows.length - 1 ? ',' : ''}`));
      lines.push(`    }${j < groups.length - 1 ? ',' : ''}`);
    });
    lines.push(`  }${comma}`);
  });
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

function main(argv) {
  const [file, ...rest] = argv;
  if (!file) throw new Error('usage: cri-fields.mjs <api.proto> --repo R --path P --commit C --kubernetes V [--drop Msg.field=why ...]');
  const opts = { drop: {} };
  for (let i = 0; i < rest.length; i += 2) {
    const [flag, value] = [rest[i], rest[i + 1]];
    if (value === undefined) throw new Error(`${flag}: missing value`);
    if (flag === '--drop') {
      const eq = value.indexOf('=');
      if (eq < 0) throw new Error(`--drop ${value}: expected <Message.field>=<why>`);
      opts.drop[value.slice(0, eq)] = value.slice(eq + 1);
    } else {
      opts[flag.replace(/^--/, '')] = value;
    }
  }
  const described = describeCri(parseCri(readFileSync(file, 'utf8')));
  for (const key of Object.keys(opts.drop)) {
    const [message, field] = key.split('.');
    if (!described.messages[message]?.[field]) throw new Error(`--drop ${key}: no such field upstream`);
    delete described.messages[message][field];
  }
  const source = {
    repository: opts.repo, path: opts.path, commit: opts.commit, kubernetes: opts.kubernetes,
    generator: 'scripts/cri-fields.mjs', dropped: opts.drop,
  };
  process.stdout.write(formatCri({ source, ...described }));
}

if (import.meta.url === `file://${process.argv[1]}`) main(process.argv.slice(2));
