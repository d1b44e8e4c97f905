// docs/ against the code. What the pages (docs/*.md and README.md) name must exist: the daemon's
// flags (cli/berth-flags.ts), config keys (the schema of cri/config/keys.ts, and the TOML examples
// must load), berthctl commands with their options and `-o` choices (cli/berthctl-commands.ts) and
// BERTH_* environment variables. The other way: every berthctl command and option has a row in
// docs/berthctl.md, every daemon flag is in docs/cri.md's usage line, every config key in
// docs/config.md's key tables and every CRI method in docs/cri.md.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command, Option } from 'commander';
import { describe, expect, it } from 'vitest';
import { berthctlProgram, daemonCommand } from '../cli/index.js';
import { parseConfig } from '../cri/config/index.js';
import { imageServiceMethods, runtimeServiceMethods } from '../proto/cri.js';
import { BERTH_FILE, CONTAINERD_FILE, RUNC_OPTIONS } from '../cri/config/keys.js';
import type { Schema } from '../cri/config/schema.js';
import { projectRoot } from './helpers/bundle.js';

interface Page { name: string; text: string }
const pages: Page[] = [
  ...readdirSync(path.join(projectRoot, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`),
  'README.md',
].map((name) => ({ name, text: readFileSync(path.join(projectRoot, name), 'utf8') }));
const page = (name: string) => pages.find((p) => p.name === name)!;

/** Inline code spans of a markdown text (outside fenced blocks), `\|` read as `|` (table cells). */
function spans(text: string): string[] {
  const out: string[] = [];
  for (const line of outsideFences(text)) for (const m of line.replaceAll('\\|', '|').matchAll(/`([^`]+)`/g)) out.push(m[1]!);
  return out;
}
function outsideFences(text: string): string[] {
  let inFence = false;
  return text.split('\n').filter((l) => {
    if (l.startsWith('```')) inFence = !inFence;
    return !inFence && !l.startsWith('```');
  });
}
/** Fenced blocks: their info string (`sh`, `toml`...) and lines. */
function fences(text: string): Array<{ lang: string; lines: string[] }> {
  const out: Array<{ lang: string; lines: string[] }> = [];
  let cur: { lang: string; lines: string[] } | undefined;
  for (const l of text.split('\n')) {
    if (l.startsWith('```')) {
      if (cur) out.push(cur);
      cur = cur ? undefined : { lang: l.slice(3).trim(), lines: [] };
    } else cur?.lines.push(l);
  }
  return out;
}
/** Every piece of code a page shows: inline spans and the lines of fenced blocks. */
const codeOf = (text: string) => [...spans(text), ...fences(text).flatMap((f) => f.lines)];

/** Where each doc problem is: `<page>: <what>`. */
const problems = (list: Array<string | undefined>) => list.filter((x): x is string => x !== undefined);

// ---- command lines ----

/** The command segments of a line of shell: after `<prog> `, up to `;`, `&&`, `#` or the end. */
function invocations(code: string, prog: string): string[][] {
  const out: string[][] = [];
  for (const part of code.split(/;|&&|\s#\s/)) {
    const m = new RegExp(`(?:^|[\\s(])${prog} (.*)$`).exec(part.trim());
    if (m) out.push(m[1]!.trim().split(/\s+/));
  }
  return out;
}

/** Problems with `words` as arguments of `cmd`: unknown flags, `-o` choices that differ. */
function flagProblems(cmd: Command, words: string[], extra: readonly Option[] = []): string[] {
  const options = [...cmd.options, ...extra];
  const out: string[] = [];
  for (const [i, raw] of words.entries()) {
    const w = raw.replace(/^\[/, '').replace(/[\]…,.]+$/, '');
    if (w === '--' || !/^--?[a-zA-Z]/.test(w)) continue;
    // `-it` is `-i -t`
    const flags = /^-[a-zA-Z]{2,}$/.test(w) ? [...w.slice(1)].map((c) => `-${c}`) : [w.split('=')[0]!];
    const unknown = flags.filter((f) => !options.some((o) => o.long === f || o.short === f));
    out.push(...unknown.map((f) => `${cmd.name()} has no option ${f}`));
    const flag = flags[flags.length - 1]!;
    const opt = options.find((o) => o.long === flag || o.short === flag);
    if (!opt) continue;
    const value = words[i + 1]?.replace(/[\]]+$/, '');
    if (opt.argChoices && value !== undefined && value.includes('|') && value.split('|').sort().join() !== [...opt.argChoices].sort().join()) {
      out.push(`${cmd.name()} ${flag}: docs say ${value}, the code takes ${opt.argChoices.join('|')}`);
    }
  }
  return out;
}

describe('berthctl commands in the docs', () => {
  const program = berthctlProgram();
  const command = (name: string) => program.commands.find((c) => c.name() === name);
  const global = program.options;

  it('exist, with the options and output formats the docs give them', () => {
    const found = problems(pages.flatMap((p) => codeOf(p.text).flatMap((code) => invocations(code, 'berthctl').flatMap((words) => {
      const name = words.find((w) => !w.startsWith('-') && !/^\[?--?address/.test(w));
      if (name === undefined || !/^[a-z][a-z-]*$/.test(name)) return []; // prose, not a command line
      const cmd = command(name);
      if (!cmd) return [`${p.name}: berthctl ${name}: no such command (in \`${code.trim()}\`)`];
      return flagProblems(cmd, words.slice(words.indexOf(name!) + 1), global).map((e) => `${p.name}: ${e}`);
    }))));
    expect(found).toEqual([]);
  });

  /** docs/berthctl.md's table: first-column spans, each `<command> [options] <args>`. */
  const rows = outsideFences(page('docs/berthctl.md').text).filter((l) => l.startsWith('| `'))
    .map((l) => spans(l.replaceAll('\\|', '\u0000').split('|')[1]!.replaceAll('\u0000', '\\|')));

  it('each row of docs/berthctl.md names a command and only its options', () => {
    expect(rows.length).toBeGreaterThan(10);
    const found = rows.flat().flatMap((span) => {
      const words = span.split(/\s+/);
      const cmd = command(words[0]!);
      return cmd ? flagProblems(cmd, words.slice(1)) : [`docs/berthctl.md: row \`${span}\`: no command ${words[0]}`];
    });
    expect(found).toEqual([]);
  });

  it('every command and every option has its row in docs/berthctl.md', () => {
    const documented = new Map(rows.flat().map((span) => [span.split(/\s+/)[0]!, span]));
    const found = program.commands.flatMap((cmd) => {
      const span = documented.get(cmd.name());
      if (span === undefined) return [`berthctl ${cmd.name()} has no row in docs/berthctl.md`];
      const words = new Set(span.split(/[\s[\]]+/));
      return cmd.options.filter((o) => !words.has(o.long ?? '') && !words.has(o.short ?? ''))
        .map((o) => `berthctl ${cmd.name()} ${o.flags}: not in its row \`${span}\``);
    });
    expect(found).toEqual([]);
  });
});

describe('daemon flags in the docs', () => {
  const daemon = daemonCommand();

  it('exist', () => {
    const found = problems(pages.flatMap((p) => codeOf(p.text).flatMap((code) => invocations(code, 'berth')
      .flatMap((words) => flagProblems(daemon, words).map((e) => `${p.name}: ${e}`)))));
    expect(found).toEqual([]);
  });

  it('are all in the usage line of docs/cri.md', () => {
    const usage = spans(page('docs/cri.md').text).find((s) => s.startsWith('berth ['));
    expect(usage).toBeDefined();
    expect(daemon.options.map((o) => o.long).filter((f) => !usage!.split(/[\s[\]]+/).includes(f!))).toEqual([]);
  });
});

// ---- config keys ----

/** The schema node at `keys` below `schema` (a map takes any key, `<handler>` or `"<host>"` included). */
function schemaAt(schema: Schema, keys: string[]): Schema | undefined {
  let node: Schema | undefined = schema;
  for (const k of keys) {
    if (node?.t === 'raw-table') node = RUNC_OPTIONS; // a runtime's `options`, read as runc's for runc-like types
    if (node?.t === 'table') node = node.fields[k];
    else if (node?.t === 'map') node = node.of;
    else return undefined;
  }
  return node;
}
const FILES = [BERTH_FILE, CONTAINERD_FILE];
const keyExists = (keys: string[]) => FILES.some((f) => schemaAt(f, keys) !== undefined);

/** `a.b."c d".e` or `[a.b] c` as keys; undefined when it is not written like a key path. */
function keyPath(text: string): string[] | undefined {
  const m = /^(?:\[([^\]]+)\]\s+)?([A-Za-z0-9_."<>-]+)$/.exec(text.trim());
  if (!m) return undefined;
  const parts = [...(m[1] ? m[1].split('.') : []), ...(m[2]!.match(/"[^"]*"|[^.]+/g) ?? [])];
  return parts.map((p) => p.replace(/^"|"$/g, ''));
}

const FILE_NAME = /\.(ts|js|mjs|cjs|md|json|toml|go|sh|conflist|conf|sock|yaml|log|proto)$/;
const TOP_TABLES = new Set(Object.entries(BERTH_FILE.t === 'table' ? BERTH_FILE.fields : {}).filter(([, s]) => s.t === 'table' || s.t === 'map').map(([k]) => k));

describe('config keys in the docs', () => {
  it('named in any page (`[table] key`, `table.key`, `key = value`) exist', () => {
    const found = problems(pages.flatMap((p) => spans(p.text).map((span) => {
      const assignment = /^(.+?)\s+=\s+\S/.exec(span);
      const text = assignment ? assignment[1]! : span;
      const keys = keyPath(text);
      if (!keys || keys.some((k) => k === '') || FILE_NAME.test(text)) return undefined;
      const sectioned = /^\[/.test(text);
      // runc option names (CamelCase) only after `options`; `containerd.runc.v1.Options` is a protobuf type
      const dotted = keys.length > 1 && TOP_TABLES.has(keys[0]!)
        && keys.every((k, i) => /^[a-z0-9_<>]+$|^"/.test(k) || (keys[i - 1] === 'options' && /^[A-Z]/.test(k)));
      const topAssignment = assignment !== null && keys.length === 1 && /^[a-z][a-z0-9_]*$/.test(keys[0]!);
      if (!sectioned && !dotted && !topAssignment) return undefined;
      return keyExists(keys) ? undefined : `${p.name}: \`${span}\` names no config key`;
    })));
    expect(found).toEqual([]);
  });

  it('the TOML examples load', () => {
    for (const p of pages) {
      for (const f of fences(p.text).filter((x) => x.lang === 'toml')) {
        if (f.lines.some((l) => /^\s*\[host\.|^\s*server\s*=/.test(l))) continue; // a hosts.toml, not a config
        expect(() => parseConfig(f.lines.join('\n'), { source: p.name }), p.name).not.toThrow();
      }
    }
  });

  /** docs/config.md "## Keys": each row's first-cell spans as key paths, relative to the section heading or the span before. */
  function documentedKeys(): { keys: string[][]; unknown: string[] } {
    const text = page('docs/config.md').text;
    const section = text.slice(text.indexOf('\n## Keys'));
    const keys: string[][] = [];
    const unknown: string[] = [];
    let prefix: string[] = [];
    for (const line of outsideFences(section)) {
      if (line.startsWith('### ')) {
        const heading = /`\[([^\]]+)\]`/.exec(line);
        prefix = heading ? heading[1]!.split('.') : [];
        continue;
      }
      if (!line.startsWith('| `')) continue;
      let before: string[] | undefined;
      for (const span of spans(line.split(' | ')[0]!)) {
        const rel = keyPath(span);
        if (!rel) continue;
        const bases = [prefix, ...(before ? [before, before.slice(0, -1)] : [])];
        const hit = bases.map((b) => [...b, ...rel]).find((k) => keyExists(k));
        if (hit) keys.push(hit);
        else unknown.push(span);
        before = hit ?? before;
      }
    }
    return { keys, unknown };
  }

  it('in docs/config.md\'s key tables exist', () => {
    const { keys, unknown } = documentedKeys();
    expect(keys.length).toBeGreaterThan(60);
    expect(unknown).toEqual([]);
  });

  it('every key of the schema has its row in docs/config.md, and every runc option is named there', () => {
    const documented = new Set(documentedKeys().keys.map((k) => k.join('.').replace(/\.(runc|berth|<handler>)\./, '.*.').replace(/"?<host>"?/g, '*')));
    const missing: string[] = [];
    const walk = (s: Schema, at: string[]) => {
      if (s.t === 'table') for (const [k, f] of Object.entries(s.fields)) walk(f, [...at, k]);
      else if (s.t === 'map' && s.of.t === 'table') walk(s.of, [...at, '*']);
      else if (!documented.has(at.join('.')) && !documented.has(at.join('.').replace(/\.\*$/, ''))) missing.push(at.join('.'));
    };
    walk(BERTH_FILE, []);
    expect(missing).toEqual([]);
    const configSpans = new Set(spans(page('docs/config.md').text));
    expect(Object.keys(RUNC_OPTIONS.t === 'table' ? RUNC_OPTIONS.fields : {}).filter((k) => !configSpans.has(k))).toEqual([]);
  });
});

// ---- CRI methods ----

describe('CRI methods in docs/cri.md', () => {
  it('every method of RuntimeService and ImageService is named (done, or under Unimplemented)', () => {
    const text = page('docs/cri.md').text;
    const methods = [...Object.keys(runtimeServiceMethods), ...Object.keys(imageServiceMethods)];
    expect(methods.length).toBeGreaterThan(40);
    expect(methods.filter((m) => !new RegExp(`\\b${m}\\b`).test(text))).toEqual([]);
  });
});

// ---- environment ----

describe('BERTH_* environment variables in the docs', () => {
  it('are read somewhere in the code', () => {
    const sources: string[] = [];
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (['node_modules', 'dist', '.git', 'docs'].includes(e.name)) continue;
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (/\.(ts|mjs|cjs|js|sh)$|^[a-z-]+$/.test(e.name) && !e.name.endsWith('.test.ts')) sources.push(readFileSync(p, 'utf8'));
      }
    };
    walk(projectRoot);
    const code = sources.join('\n');
    const named = new Set(pages.flatMap((p) => [...p.text.matchAll(/\bBERTH_[A-Z_]+[A-Z]\b/g)].map((m) => m[0])));
    expect([...named].filter((v) => !code.includes(v))).toEqual([]);
  });
});
