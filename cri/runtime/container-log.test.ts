// The CRI log writer: record format, P/F splitting at the size limit, \r\n endings, an
// unterminated tail at EOF, no limit when the size is 0, and reopen after rotation.
import { mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../common/index.js';
import { ContainerLog, rfc3339Nano } from './container-log.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function setup(max: number) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-log-'));
  dirs.push(dir);
  const file = path.join(dir, 'c', '0.log');
  const log = new ContainerLog(file, max, silentLogger);
  const out = new PassThrough();
  const err = new PassThrough();
  log.attach(out, 'stdout');
  log.attach(err, 'stderr');
  const records = () => readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => {
    const m = /^(\S+) (stdout|stderr) ([PF]) (.*)$/.exec(l);
    if (!m) throw new Error(`bad record ${l}`);
    return `${m[2]} ${m[3]} ${m[4]}`;
  });
  const tick = () => new Promise((r) => setImmediate(r));
  return { file, log, out, err, records, tick };
}

describe('rfc3339Nano', () => {
  it('prints nanoseconds without trailing zeros, in UTC', () => {
    expect(rfc3339Nano(1_700_000_000_123_456_789n)).toBe('2023-11-14T22:13:20.123456789Z');
    expect(rfc3339Nano(1_700_000_000_120_000_000n)).toBe('2023-11-14T22:13:20.12Z');
    expect(rfc3339Nano(1_700_000_000_000_000_000n)).toBe('2023-11-14T22:13:20Z');
  });
});

describe('ContainerLog', () => {
  it('writes one record per line, splits long lines, drops \\r\\n, ends with P at EOF', async () => {
    const t = setup(4);
    t.out.write('ab\r\nabcdefghij\nxy');
    t.err.write('e\n');
    await t.tick();
    t.out.end('z');
    await t.tick();
    expect(t.records()).toEqual(['stdout F ab', 'stdout P abcd', 'stdout P efgh', 'stdout F ij', 'stderr F e', 'stdout P xyz']);
    t.log.close();
  });

  it('a line exactly at the limit is one F record, even when its newline comes later; limit 0 means no splitting', async () => {
    const a = setup(3);
    a.out.write('abc');
    await a.tick();
    a.out.write('\nabcd');
    await a.tick();
    a.out.write('\n');
    await a.tick();
    expect(a.records()).toEqual(['stdout F abc', 'stdout P abc', 'stdout F d']);
    a.log.close();
    const b = setup(0);
    b.out.write(`${'y'.repeat(100000)}\n`);
    await b.tick();
    expect(b.records()).toEqual([`stdout F ${'y'.repeat(100000)}`]);
    b.log.close();
  });

  it('reopen writes to a new file at the same path after rotation', async () => {
    const t = setup(100);
    t.out.write('one\n');
    await t.tick();
    renameSync(t.file, `${t.file}.1`);
    t.log.reopen();
    t.out.write('two\n');
    await t.tick();
    expect(t.records()).toEqual(['stdout F two']);
    expect(readFileSync(`${t.file}.1`, 'utf8')).toMatch(/stdout F one\n$/);
    t.log.close();
  });
});
