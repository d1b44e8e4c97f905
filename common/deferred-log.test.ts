// deferredLogger: records (and their children's bindings) logged before the real logger exists
// are written, in order, once it is handed over; later calls go straight to it.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, deferredLogger } from './log.js';

function sink(): { lines: () => Record<string, unknown>[]; stream: Writable } {
  const out: string[] = [];
  const stream = new Writable({ write(chunk: Buffer, _e, cb) { out.push(chunk.toString()); cb(); } });
  return { stream, lines: () => out.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('deferredLogger', () => {
  it('replays queued records with child bindings in order, then logs straight through', async () => {
    const d = deferredLogger();
    const pod = d.logger.child({ pod: 'p1' });
    d.logger.info('first');
    pod.warn({ n: 1 }, 'second');
    d.logger.debug('dropped by level');
    const s = sink();
    d.resolve(createLogger({ level: 'info', destination: s.stream }));
    d.logger.info('third');
    pod.error('fourth');
    d.logger.child({ c: 'x' }).info('fifth');
    await new Promise((r) => setImmediate(r));
    expect(s.lines().map((l) => [l.msg, l.pod ?? l.c])).toEqual([
      ['first', undefined], ['second', 'p1'], ['third', undefined], ['fourth', 'p1'], ['fifth', 'x'],
    ]);
    expect(s.lines()[1]).toMatchObject({ n: 1, level: 40 });
  });

  it('follows a level change of the real logger', async () => {
    const d = deferredLogger();
    const s = sink();
    const real = createLogger({ level: 'info', destination: s.stream });
    d.resolve(real);
    d.logger.debug('hidden');
    real.level = 'debug';
    d.logger.debug('shown');
    await new Promise((r) => setImmediate(r));
    expect(s.lines().map((l) => l.msg)).toEqual(['shown']);
  });
});
