// stream_server_address resolution: a configured address is kept; "" becomes the node's primary IPv4.
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { streamServerAddress } from './streaming-urls.js';

describe('streamServerAddress', () => {
  it('keeps a configured address, wildcards included', () => {
    expect(streamServerAddress('127.0.0.1')).toBe('127.0.0.1');
    expect(streamServerAddress('0.0.0.0')).toBe('0.0.0.0');
  });

  it('resolves "" to a non-loopback IPv4 address of this machine', () => {
    const mine = Object.values(os.networkInterfaces()).flat().filter((a) => a && a.family === 'IPv4' && !a.internal).map((a) => a!.address);
    const got = streamServerAddress('');
    if (mine.length === 0) expect(got).toBe('127.0.0.1');
    else expect(mine).toContain(got);
  });
});
