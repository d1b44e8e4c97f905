// The pod's own files, as containerd makes them (sandbox_run_linux.go setupSandboxFiles):
// <root>/sandboxes/<id>/{hostname,hosts,resolv.conf} and a 64 MiB tmpfs /dev/shm under
// <state>/sandboxes/<id>/shm, shared by every container of the pod.
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { InvalidArgumentError, joinWithin } from '../../common/index.js';
import { isMountPoint, mountOne, unmountAll } from '../../sys/index.js';
import type { SandboxFiles } from '../oci/index.js';
import type { JsonObject } from '../store/index.js';

const SHM_SIZE = 64 * 1024 * 1024;

export function sandboxFilePaths(dirs: { root: string; state: string }, id: string): Required<SandboxFiles> & { rootDir: string; stateDir: string } {
  const rootDir = joinWithin(dirs.root, 'sandboxes', id);
  const stateDir = joinWithin(dirs.state, 'sandboxes', id);
  return {
    rootDir, stateDir, hostnamePath: `${rootDir}/hostname`, hostsPath: `${rootDir}/hosts`,
    resolvConfPath: `${rootDir}/resolv.conf`, devShmPath: `${stateDir}/shm`,
  };
}

function resolvConf(dns: JsonObject | undefined): string | undefined {
  if (!dns) return undefined;
  const list = (k: string): string[] => (Array.isArray(dns[k]) ? (dns[k] as string[]) : []);
  const servers = list('servers');
  const searches = list('searches');
  const options = list('options');
  if (servers.length + searches.length + options.length === 0) return undefined;
  for (const s of [...servers, ...searches, ...options]) {
    if (/[\n\r]/.test(s)) throw new InvalidArgumentError(`dns_config entry ${JSON.stringify(s)} contains a line break`);
  }
  return [
    ...(searches.length ? [`search ${searches.join(' ')}`] : []),
    ...servers.map((s) => `nameserver ${s}`),
    ...(options.length ? [`options ${options.join(' ')}`] : []),
  ].join('\n') + '\n';
}

/** Writes the pod's files and mounts its shm (unless the pod uses the host IPC namespace). */
export async function setupSandboxFiles(
  dirs: { root: string; state: string }, id: string, config: JsonObject, opts: { hostIpc: boolean },
): Promise<SandboxFiles> {
  const p = sandboxFilePaths(dirs, id);
  await mkdir(p.rootDir, { recursive: true, mode: 0o755 });
  await mkdir(p.stateDir, { recursive: true, mode: 0o711 });
  const hostname = typeof config.hostname === 'string' && config.hostname !== '' ? config.hostname : os.hostname();
  await writeFile(p.hostnamePath, `${hostname}\n`);
  // every pod gets the host's /etc/hosts, as with containerd (kubelet mounts its own managed
  // hosts file into the app containers of non-host-network pods)
  await copyFile('/etc/hosts', p.hostsPath).catch(() => writeFile(p.hostsPath, `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n`));
  const rc = resolvConf(config.dnsConfig as JsonObject | undefined);
  if (rc !== undefined) await writeFile(p.resolvConfPath, rc);
  else await copyFile('/etc/resolv.conf', p.resolvConfPath).catch(() => writeFile(p.resolvConfPath, ''));
  const files: SandboxFiles = { hostnamePath: p.hostnamePath, hostsPath: p.hostsPath, resolvConfPath: p.resolvConfPath };
  if (!opts.hostIpc) {
    await mkdir(p.devShmPath, { recursive: true, mode: 0o700 });
    if (!isMountPoint(p.devShmPath)) {
      mountOne({ type: 'tmpfs', source: 'shm', options: ['nodev', 'nosuid', 'noexec', 'mode=1777', `size=${SHM_SIZE}`] }, p.devShmPath);
    }
    files.devShmPath = p.devShmPath;
  }
  return files;
}

/** The pod's files as they were set up (for CreateContainer). */
export function sandboxFiles(dirs: { root: string; state: string }, id: string, hostIpc: boolean): SandboxFiles {
  const p = sandboxFilePaths(dirs, id);
  return {
    hostnamePath: p.hostnamePath, hostsPath: p.hostsPath, resolvConfPath: p.resolvConfPath,
    ...(hostIpc ? {} : { devShmPath: p.devShmPath }),
  };
}

/** Unmounts the shm and removes both sandbox dirs; missing ones are fine. */
export async function removeSandboxFiles(dirs: { root: string; state: string }, id: string): Promise<void> {
  const p = sandboxFilePaths(dirs, id);
  if (isMountPoint(p.devShmPath)) unmountAll(p.devShmPath);
  await rm(p.stateDir, { recursive: true, force: true });
  await rm(p.rootDir, { recursive: true, force: true });
}
