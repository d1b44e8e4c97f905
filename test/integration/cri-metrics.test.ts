// The Prometheus endpoint of a real daemon (`[metrics] address`, docs/metrics.md), scraped over
// HTTP while a pod runs, on each runtime handler (the real containerd-shim-runc-v2 and berth's own
// shim): CRI calls by method and code, pulls,
// pods and containers by state, the pod's shim and its PSS, exits by reason, and all of it
// following the pod's removal.
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isKind } from '../../common/index.js';
import { CRI_HANDLERS, LOCAL_BUSYBOX, podConfig, shimsOf, startBerth, until, type Berth } from './cri-harness.js';

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** The value of one series in exposition text (labels exactly as prom-client writes them), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const RT = 'runtime.v1.RuntimeService';
const IMG = 'runtime.v1.ImageService';
const calls = (service: string, method: string, code: string) =>
  `berth_cri_request_duration_seconds_count{grpc_service="${service}",grpc_method="${method}",grpc_code="${code}"}`;

function container(name: string, script: string) {
  return { metadata: { name, attempt: 0 }, image: { image: LOCAL_BUSYBOX }, command: ['/bin/sh', '-c', script], logPath: `${name}/0.log` };
}

describe.each(CRI_HANDLERS)('metrics endpoint of a real daemon, pods on the %s shim', (handler) => {
  let b: Berth;
  let base: string;
  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    b = await startBerth({ handler, extraConfig: ['[metrics]', `address = "127.0.0.1:${port}"`] });
  }, 120_000);
  afterAll(async () => {
    await b?.stop();
  }, 120_000);

  const scrape = async (p = '/v1/metrics'): Promise<string> => {
    const r = await fetch(`${base}${p}`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return r.text();
  };

  it('counts calls, pulls, pods, containers, the shim and exits, and follows the pod away', async () => {
    // two pulls of one image: the first stores it, the second finds it
    await b.cri.image.PullImage({ image: { image: LOCAL_BUSYBOX } });
    await b.cri.image.PullImage({ image: { image: LOCAL_BUSYBOX } });
    const size = Number((await b.cri.image.ImageStatus({ image: { image: LOCAL_BUSYBOX } })).image!.size);
    expect(size).toBeGreaterThan(100_000);

    const config = podConfig(b, 'metrics');
    const { podSandboxId: pod } = await b.cri.runtime.RunPodSandbox({ config });
    const ids: Record<string, string> = {};
    for (const [name, script] of [['ok', 'exit 0'], ['bad', 'exit 3'], ['sleeper', 'exec sleep 3600']] as const) {
      ids[name] = (await b.cri.runtime.CreateContainer({ podSandboxId: pod, config: container(name, script), sandboxConfig: config })).containerId;
      await b.cri.runtime.StartContainer({ containerId: ids[name] });
    }
    const missing = await b.cri.runtime.ContainerStatus({ containerId: 'no-such-container' }).catch((e: unknown) => e);
    expect(isKind(missing, 'not-found')).toBe(true);

    // exits are counted as the CRI records them
    let text = await until(async () => {
      const t = await scrape();
      return sample(t, 'berth_container_exits_total{reason="Error"}') === 1 && sample(t, 'berth_container_exits_total{reason="Completed"}') === 1 && t;
    }, 'both exits counted');
    expect(await scrape('/metrics')).toContain('berth_container_exits_total{reason="Completed"} 1');

    expect(sample(text, calls(RT, 'RunPodSandbox', 'OK'))).toBe(1);
    expect(sample(text, calls(RT, 'CreateContainer', 'OK'))).toBe(3);
    expect(sample(text, calls(RT, 'StartContainer', 'OK'))).toBe(3);
    expect(sample(text, calls(RT, 'ContainerStatus', 'NotFound'))).toBe(1);
    expect(sample(text, calls(IMG, 'PullImage', 'OK'))).toBe(2);
    // every call is in the +Inf bucket and took some time
    expect(sample(text, `berth_cri_request_duration_seconds_bucket{le="+Inf",grpc_service="${RT}",grpc_method="RunPodSandbox",grpc_code="OK"}`)).toBe(1);
    expect(sample(text, `berth_cri_request_duration_seconds_sum{grpc_service="${RT}",grpc_method="RunPodSandbox",grpc_code="OK"}`)).toBeGreaterThan(0);

    expect(sample(text, 'berth_image_pull_duration_seconds_count{result="stored"}')).toBe(1);
    expect(sample(text, 'berth_image_pull_duration_seconds_count{result="present"}')).toBe(1);
    expect(sample(text, 'berth_image_pull_bytes_total')).toBe(size);

    expect(sample(text, 'berth_pod_sandboxes{state="SANDBOX_READY"}')).toBe(1);
    expect(sample(text, 'berth_pod_sandboxes{state="SANDBOX_NOTREADY"}')).toBe(0);
    expect(sample(text, 'berth_containers{state="CONTAINER_RUNNING"}')).toBe(1);
    expect(sample(text, 'berth_containers{state="CONTAINER_EXITED"}')).toBe(2);
    expect(sample(text, 'berth_containers{state="CONTAINER_CREATED"}')).toBe(0);

    // the pod's one shim, and its PSS as /proc tells it to us
    expect(sample(text, `berth_shims{runtime_handler="${handler}"}`)).toBe(1);
    const shimPids = shimsOf(b);
    expect(shimPids).toHaveLength(1);
    const shimPid = shimPids[0]!;
    const ours = Number(/^Pss:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${shimPid}/smaps_rollup`, 'utf8'))![1]) * 1024;
    const pss = sample(text, `berth_shim_pss_bytes{pod_sandbox_id="${pod}",runtime_handler="${handler}"}`)!;
    expect(pss).toBeGreaterThan(ours / 2);
    expect(pss).toBeLessThan(ours * 2);
    expect(sample(text, 'berth_daemon_pss_bytes')).toBeGreaterThan(10 * 1024 * 1024);
    expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(10 * 1024 * 1024);

    // stopping the pod kills the sleeper (an Error exit); removing it leaves nothing to count
    await b.cri.runtime.StopPodSandbox({ podSandboxId: pod });
    await b.cri.runtime.RemovePodSandbox({ podSandboxId: pod });
    text = await until(async () => {
      const t = await scrape();
      return sample(t, 'berth_container_exits_total{reason="Error"}') === 2 && t;
    }, 'the sleeper\'s exit counted');
    expect(sample(text, 'berth_pod_sandboxes{state="SANDBOX_READY"}')).toBe(0);
    expect(sample(text, 'berth_containers{state="CONTAINER_RUNNING"}')).toBe(0);
    expect(sample(text, 'berth_containers{state="CONTAINER_EXITED"}')).toBe(0);
    expect(text).not.toContain('berth_shim_pss_bytes{');
    expect(sample(text, calls(RT, 'RemovePodSandbox', 'OK'))).toBe(1);
  });
});
