// The images both runtimes use, served by one local docker-registry: busybox (for `sleep` and
// `sh`), a pause image made from the same busybox layer, a 50 MB image of five layers of
// incompressible data for the pull figure, and 48 small images (busybox and one file of their
// own) for the ImageFsInfo figure. Built as OCI layouts and pushed with skopeo.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { busyboxLayer, makeImage, makeLayer, writeLayout } from '../test/fixtures/oci-image.js';
import { startRegistry, type TestRegistry } from '../test/helpers/registry.js';

/** Small images the ImageFsInfo figure pulls beside busybox and pause: 50 images held. */
export const MANY_IMAGES = 48;

export interface BenchImages {
  registry: TestRegistry;
  busybox: string;
  pause: string;
  /** 5 layers x 10 MiB of random bytes (gzip does not shrink them). */
  big: string;
  bigBytes: number;
  /** MANY_IMAGES refs when asked for, else none. */
  many: string[];
}

export async function prepareImages(workDir: string, withBig: boolean, withMany = false): Promise<BenchImages> {
  const registry = await startRegistry();
  try {
    const base = await busyboxLayer();
    const busybox = makeImage([base], { cmd: ['sh'] });
    await writeLayout(path.join(workDir, 'busybox'), '1', busybox);
    await registry.push(path.join(workDir, 'busybox'), '1', 'bench/busybox');
    const pause = makeImage([base], { cmd: ['sleep', '2147483647'] });
    await writeLayout(path.join(workDir, 'pause'), '1', pause);
    await registry.push(path.join(workDir, 'pause'), '1', 'bench/pause');
    let bigBytes = 0;
    if (withBig) {
      const layers = [];
      for (let i = 0; i < 5; i++) {
        layers.push(await makeLayer([{ name: 'data/', type: 'directory' }, { name: `data/layer${i}.bin`, content: randomBytes(10 << 20) }]));
      }
      bigBytes = layers.reduce((n, l) => n + l.size, 0);
      await writeLayout(path.join(workDir, 'big'), '1', makeImage(layers, { cmd: ['sh'] }));
      await registry.push(path.join(workDir, 'big'), '1', 'bench/big');
    }
    const many: string[] = [];
    if (withMany) {
      // One push at a time: docker-registry answers 500 to pushes racing on one shared blob.
      for (let i = 0; i < MANY_IMAGES; i++) {
        const own = await makeLayer([{ name: 'etc/', type: 'directory' }, { name: `etc/image-${i}`, content: `image ${i}\n`.repeat(100) }]);
        await writeLayout(path.join(workDir, `many-${i}`), String(i), makeImage([base, own], { cmd: ['sh'] }));
        await registry.push(path.join(workDir, `many-${i}`), String(i), 'bench/many');
        many.push(`${registry.host}/bench/many:${i}`);
      }
    }
    return {
      registry,
      busybox: `${registry.host}/bench/busybox:1`,
      pause: `${registry.host}/bench/pause:1`,
      big: `${registry.host}/bench/big:1`,
      bigBytes,
      many,
    };
  } catch (err) {
    await registry.stop();
    throw err;
  }
}
