import { describe, expect, it } from 'vitest';
import { MediaType, layerCompression, parseManifestOrIndex, selectPlatform, type Index } from './media-types.js';
import { imageUser } from './image-store.js';
import { chainIdsOf } from './pull.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const desc = (c: string, arch?: string, variant?: string) => ({
  mediaType: MediaType.ociManifest, digest: d(c), size: 1, ...(arch ? { platform: { os: 'linux', architecture: arch, ...(variant ? { variant } : {}) } } : {}),
});

describe('media types', () => {
  it('selects linux/amd64, then 386, then unplatformed entries', () => {
    const idx = (ms: ReturnType<typeof desc>[]): Index => ({ schemaVersion: 2, manifests: ms });
    expect(selectPlatform(idx([desc('a', 'arm64'), desc('b', 'x86_64'), desc('c', 'amd64')]), 'i').digest).toBe(d('b'));
    expect(selectPlatform(idx([desc('a'), desc('b', '386')]), 'i').digest).toBe(d('b'));
    expect(selectPlatform(idx([desc('a', 'amd64', 'v3'), desc('b')]), 'i').digest).toBe(d('b'));
    expect(() => selectPlatform(idx([desc('a', 'arm64')]), 'i')).toThrow(expect.objectContaining({ kind: 'not-found' }));
  });

  it('checks a body against its media type, Docker and OCI alike', () => {
    const m = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.dockerManifest, config: desc('a'), layers: [desc('b')] }));
    expect(parseManifestOrIndex(m, MediaType.dockerManifest, 'm').kind).toBe('manifest');
    const l = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.dockerList, manifests: [desc('a', 'amd64')] }));
    expect(parseManifestOrIndex(l, MediaType.dockerList, 'l').kind).toBe('index');
    expect(() => parseManifestOrIndex(l, MediaType.ociManifest, 'x')).toThrow(expect.objectContaining({ kind: 'invalid-argument' }));
    expect(() => parseManifestOrIndex(Buffer.from('{"fsLayers":[]}'), 'application/json', 'x')).toThrow(expect.objectContaining({ kind: 'unimplemented' }));
    expect(() => parseManifestOrIndex(Buffer.from('nope'), MediaType.ociManifest, 'x')).toThrow(expect.objectContaining({ kind: 'invalid-argument' }));
  });

  it('maps layer media types to compression', () => {
    expect(layerCompression(MediaType.dockerLayerGzip)).toBe('gzip');
    expect(layerCompression(MediaType.ociLayer)).toBe('none');
    expect(layerCompression('application/vnd.oci.image.layer.nondistributable.v1.tar+zstd')).toBe('zstd');
    expect(() => layerCompression('text/plain')).toThrow(expect.objectContaining({ kind: 'invalid-argument' }));
  });

  it('derives the CRI uid/username from config User', () => {
    const u = (User?: string) => imageUser({ config: { rootfs: { type: 'layers', diff_ids: [] }, config: User === undefined ? {} : { User } } });
    expect(u('65535:65535')).toEqual({ uid: 65535, username: '' });
    expect(u('nginx')).toEqual({ username: 'nginx' });
    expect(u()).toEqual({ username: '' });
  });

  it('computes chainIDs like containerd (worked example)', () => {
    expect(chainIdsOf([
      'sha256:8ea81cbab3b239f768a45371fbf873490ec3306ce897686dc41858a13ffab14f',
      'sha256:0f2984d306c79fb9d643283db2eb5b5f62bfe17e393fd8a7b210b4c787d90c4e',
    ])[1]).toBe('sha256:d999386a7a68afe417456a42f263d931794d008be1dea3e460009ca2166cba9b');
  });
});
