// StopContainer's first signal: the CRI config's stop_signal over the image's STOPSIGNAL over
// SIGTERM (containerd 2.x), and every CRI Signal value as the number the kernel gets.
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { isKind } from '../../common/index.js';
import { runtime } from '../../proto/cri.js';
import type { ContainerRecord } from '../store/index.js';
import { criSignalName, parseSignal, stopSignalOf } from './container-stop.js';

const S = os.constants.signals;
const Signal = runtime.v1.Signal;

/** Deps whose image store holds one image, `sha256:img`, whose config says `StopSignal` (or none). */
const imagesWith = (stopSignal?: string) => ({
  images: { status: (ref: string) => (ref === 'sha256:img' ? { config: { config: stopSignal ? { StopSignal: stopSignal } : {} } } : undefined) },
}) as never;

describe('stopSignalOf', () => {
  it('takes the config stop_signal over the image STOPSIGNAL, the image over SIGTERM', () => {
    const c = (stopSignal?: number) => ({ imageId: 'sha256:img', config: (stopSignal === undefined ? {} : { stopSignal }) as ContainerRecord['config'] });
    expect(stopSignalOf(imagesWith('SIGQUIT'), c(Signal.SIGUSR1))).toBe(S.SIGUSR1);
    expect(stopSignalOf(imagesWith('SIGQUIT'), c(Signal.RUNTIME_DEFAULT))).toBe(S.SIGQUIT);
    expect(stopSignalOf(imagesWith('SIGQUIT'), c())).toBe(S.SIGQUIT);
    expect(stopSignalOf(imagesWith(), c())).toBe(S.SIGTERM);
    // the image is gone: the config still decides, else SIGTERM
    expect(stopSignalOf(imagesWith('SIGQUIT'), { imageId: 'sha256:gone', config: { stopSignal: Signal.SIGINT } })).toBe(S.SIGINT);
    expect(stopSignalOf(imagesWith('SIGQUIT'), { imageId: 'sha256:gone', config: {} })).toBe(S.SIGTERM);
  });

  it('refuses a stop_signal number the CRI enum does not have', () => {
    let err: unknown;
    try {
      stopSignalOf(imagesWith(), { imageId: 'sha256:img', config: { stopSignal: 99 } });
    } catch (e) {
      err = e;
    }
    expect(isKind(err, 'invalid-argument')).toBe(true);
    expect(String(err)).toContain('unknown CRI stop signal 99');
  });
});

describe('CRI Signal values', () => {
  it('name OCI stop signals the way containerd writes them', () => {
    expect(criSignalName(Signal.RUNTIME_DEFAULT)).toBe('');
    expect(criSignalName(Signal.SIGTERM)).toBe('SIGTERM');
    expect(criSignalName(Signal.SIGRTMINPLUS3)).toBe('SIGRTMIN+3');
    expect(criSignalName(Signal.SIGRTMAXMINUS1)).toBe('SIGRTMAX-1');
  });

  it('each resolve to its Linux signal number', () => {
    const want: Record<string, number> = {
      SIGABRT: 6, SIGALRM: 14, SIGBUS: 7, SIGCHLD: 17, SIGCLD: 17, SIGCONT: 18, SIGFPE: 8, SIGHUP: 1, SIGILL: 4, SIGINT: 2,
      SIGIO: 29, SIGIOT: 6, SIGKILL: 9, SIGPIPE: 13, SIGPOLL: 29, SIGPROF: 27, SIGPWR: 30, SIGQUIT: 3, SIGSEGV: 11,
      SIGSTKFLT: 16, SIGSTOP: 19, SIGSYS: 31, SIGTERM: 15, SIGTRAP: 5, SIGTSTP: 20, SIGTTIN: 21, SIGTTOU: 22, SIGURG: 23,
      SIGUSR1: 10, SIGUSR2: 12, SIGVTALRM: 26, SIGWINCH: 28, SIGXCPU: 24, SIGXFSZ: 25, SIGRTMIN: 34, SIGRTMAX: 64,
    };
    for (let i = 1; i <= 15; i++) want[`SIGRTMINPLUS${i}`] = 34 + i;
    for (let i = 1; i <= 14; i++) want[`SIGRTMAXMINUS${i}`] = 64 - i;
    const values = Object.entries(Signal).filter(([name]) => name !== 'RUNTIME_DEFAULT');
    expect(values).toHaveLength(65);
    const got = Object.fromEntries(values.map(([name, v]) => [name, parseSignal(criSignalName(v as number))]));
    expect(got).toEqual(want);
  });

  it('parse image STOPSIGNAL forms: with or without SIG, any case, numbers; unknown is SIGTERM', () => {
    expect([parseSignal('TERM'), parseSignal('sigusr2'), parseSignal('9'), parseSignal('RTMIN+2'), parseSignal('rtmax-3')])
      .toEqual([15, 12, 9, 36, 61]);
    expect([parseSignal(undefined), parseSignal(''), parseSignal('SIGNOPE'), parseSignal('SIGRTMIN+31'), parseSignal('SIGRTMIN-1')])
      .toEqual([15, 15, 15, 15, 15]);
  });
});
