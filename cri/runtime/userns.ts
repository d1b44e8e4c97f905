// A pod's user namespace (docs/cri.md "User namespaces"). runc 1.1.5 has no idmapped mounts in
// its spec (they came in runc 1.2), so berth does that part itself:
// - the namespace is made before the pod: `unshare --user --net` holds a new user namespace and
//   a network namespace owned by it (a netns owned by the host's user namespace would make runc's
//   sysfs mount fail with EPERM inside the pod); berth writes the pod's uid/gid mappings, pins
//   both by bind mounts (<state>/cri/userns/<id>/ns and the pod's netns path) and lets the holder
//   go. The pause container and every container of the pod join the pinned one.
// - the rootfs: the layer dirs of a snapshot are bound again as idmapped mounts
//   (mount_setattr MOUNT_ATTR_IDMAP with the pinned namespace) under <state>/cri/userns/<id>/l/,
//   and the overlay uses those as its lower dirs (overlayfs takes idmapped layers since 5.19;
//   an overlay mount itself cannot be idmapped: EINVAL); the rw upper dir's root is chowned to the
//   pod's root, so files the container makes are owned by ids of its mapping.
// - CRI volumes that carry uid/gid mappings get an idmapped bind under <state>/cri/userns/<id>/v/.
// Everything under <state>/cri/userns/<id> goes when the pod is removed.
import { closeSync, openSync, readlinkSync, statSync } from 'node:fs';
import { chown, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createHash, InternalError, InvalidArgumentError, joinWithin, type Logger } from '../../common/index.js';
import { idmappedBind, isMountPoint, mount, runProcess, spawnHelper, unmountAll, type Mount } from '../../sys/index.js';
import { checkPodUserns, readUserns, type CriMount, type CriNamespaceOption, type IdMap, type PodUserns } from '../oci/index.js';

const MS_BIND = 0x1000;
const HOLDER_WAIT_MS = 5_000;
const TOOL_TIMEOUT_MS = 10_000;

type Dirs = { readonly state: string };

export const usernsDir = (dirs: Dirs, sandboxId: string): string => joinWithin(dirs.state, 'userns', sandboxId);
/** The pinned user namespace of a pod. */
export const usernsPath = (dirs: Dirs, sandboxId: string): string => path.join(usernsDir(dirs, sandboxId), 'ns');

/** The user namespace a pod config asks for (undefined: the host's); InvalidArgument for what is refused. */
export function podUserns(config: { linux?: unknown }): PodUserns | undefined {
  const opts = (config.linux as { securityContext?: { namespaceOptions?: CriNamespaceOption } } | undefined)?.securityContext?.namespaceOptions;
  const userns = readUserns(opts, 'namespace_options');
  const mode = (v: unknown) => (typeof v === 'number' ? v : 0);
  checkPodUserns(userns, { network: mode(opts?.network), pid: mode(opts?.pid), ipc: mode(opts?.ipc), targetId: '' }, 'namespace_options');
  return userns;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const mapLine = (m: IdMap) => `${m.containerId} ${m.hostId} ${m.length}\n`;

/** An empty file to bind a namespace onto (O_EXCL: an existing one is an error). */
async function pinFile(file: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o711 });
  await writeFile(file, '', { flag: 'wx', mode: 0o444 });
}

/**
 * Makes and pins the pod's user namespace, and (for a pod network) its network namespace owned
 * by it at `netnsFile` with `lo` up. On failure nothing is left pinned.
 */
export async function createPodUserns(dirs: Dirs, sandboxId: string, userns: PodUserns, netnsFile: string | undefined, log: Logger): Promise<void> {
  const holder = spawnHelper('unshare', ['--user', ...(netnsFile ? ['--net'] : []), '--', 'sleep', 'infinity'], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => holder.once('close', () => resolve()));
  holder.once('error', () => undefined); // seen through `close` and the wait below
  const nsFile = usernsPath(dirs, sandboxId);
  try {
    const pid = holder.pid;
    if (pid === undefined) throw new Error('unshare could not be started');
    const own = readlinkSync('/proc/self/ns/user');
    const deadline = Date.now() + HOLDER_WAIT_MS;
    for (;;) {
      let ns = own;
      try {
        ns = readlinkSync(`/proc/${pid}/ns/user`);
      } catch {
        // not there yet, or gone (then the deadline ends it)
      }
      if (ns !== own) break;
      if (holder.exitCode !== null || Date.now() > deadline) throw new Error(`unshare --user did not make a user namespace within ${HOLDER_WAIT_MS} ms`);
      await sleep(2);
    }
    await writeFile(`/proc/${pid}/uid_map`, mapLine(userns.uid));
    await writeFile(`/proc/${pid}/gid_map`, mapLine(userns.gid));
    await pinFile(nsFile);
    mount(`/proc/${pid}/ns/user`, nsFile, null, MS_BIND, null);
    if (netnsFile) {
      await pinFile(netnsFile);
      mount(`/proc/${pid}/ns/net`, netnsFile, null, MS_BIND, null);
      const r = await runProcess({ file: 'nsenter', args: [`--net=${netnsFile}`, 'ip', 'link', 'set', 'lo', 'up'], timeoutMs: TOOL_TIMEOUT_MS });
      if (r.code !== 0) throw new Error(`ip link set lo up: ${r.stderr.toString('utf8').trim() || `exit status ${r.code ?? r.signal}`}`);
    }
    log.info({ podSandboxId: sandboxId, uid: userns.uid, gid: userns.gid }, 'pod user namespace pinned');
  } catch (err) {
    await removePodUserns(dirs, sandboxId);
    if (netnsFile) {
      unmountAll(netnsFile);
      await rm(netnsFile, { force: true });
    }
    throw new InternalError(`cannot create the user namespace of pod ${sandboxId}: ${(err as Error).message}`, { cause: err });
  } finally {
    holder.kill('SIGKILL');
    await exited;
  }
}

/** Unpins the pod's user namespace and every idmapped mount made for it; idempotent. */
export async function removePodUserns(dirs: Dirs, sandboxId: string): Promise<void> {
  const dir = usernsDir(dirs, sandboxId);
  unmountAll(dir);
  await rm(dir, { recursive: true, force: true });
}

/** After a restart: the pinned namespaces and idmapped mounts of pods no record knows. */
export async function recoverPodUserns(dirs: Dirs, known: ReadonlySet<string>): Promise<void> {
  let names: string[] = [];
  try {
    names = await readdir(joinWithin(dirs.state, 'userns'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  for (const id of names) if (!known.has(id)) await removePodUserns(dirs, id);
}

/** An idmapped bind of `source` at `target` (made once; a file or a dir like the source) with the pod's mapping. */
async function ensureIdmapped(dirs: Dirs, sandboxId: string, source: string, target: string): Promise<void> {
  if (isMountPoint(target)) {
    // An idmapped bind shows its source's inode; another inode means the name was reused (a
    // snapshot number given again after its layer was collected): bind the new source.
    const [a, b] = [statSync(source), statSync(target)];
    if (a.ino === b.ino && a.dev === b.dev) return;
    unmountAll(target);
  }
  await mkdir(path.dirname(target), { recursive: true, mode: 0o711 });
  if (statSync(source).isDirectory()) await mkdir(target, { recursive: true });
  else await writeFile(target, '', { flag: 'a' });
  const fd = openSync(usernsPath(dirs, sandboxId), 'r');
  try {
    idmappedBind(source, target, fd);
  } finally {
    closeSync(fd);
  }
}

/** The layer dirs as idmapped binds of the pod's mapping, in the same order (image layers are never written). */
export async function idmappedLayers(dirs: Dirs, sandboxId: string, lowers: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const dir of lowers) {
    // <snapshots>/<n>/fs: `n` names the layer
    const target = path.join(usernsDir(dirs, sandboxId), 'l', path.basename(path.dirname(dir)));
    await ensureIdmapped(dirs, sandboxId, dir, target);
    out.push(target);
  }
  return out;
}

/**
 * A rootfs overlay for a pod in a user namespace: lower dirs idmapped, the upper dir's root owned
 * by the pod's root (so `/` and what the container makes belong to ids of its mapping).
 */
export async function idmapRootfs(dirs: Dirs, sandboxId: string, userns: PodUserns, mounts: readonly Mount[]): Promise<Mount[]> {
  const out: Mount[] = [];
  for (const m of mounts) {
    if (m.type !== 'overlay') {
      out.push(m);
      continue;
    }
    const options: string[] = [];
    for (const o of m.options) {
      if (o.startsWith('lowerdir=')) {
        options.push(`lowerdir=${(await idmappedLayers(dirs, sandboxId, o.slice('lowerdir='.length).split(':'))).join(':')}`);
      } else {
        if (o.startsWith('upperdir=')) await chown(o.slice('upperdir='.length), userns.uid.hostId, userns.gid.hostId);
        options.push(o);
      }
    }
    out.push({ ...m, options });
  }
  return out;
}

const sameMapping = (list: CriMount['uidMappings'], m: IdMap) =>
  list?.length === 1 && (list[0]!.containerId ?? 0) === m.containerId && (list[0]!.hostId ?? 0) === m.hostId && (list[0]!.length ?? 0) === m.length;

/**
 * CRI mounts with uid/gid mappings (what kubelet sends for a pod in a user namespace) as idmapped
 * binds made by berth: runc 1.1.5 cannot apply mount mappings. A mapping other than the pod's,
 * or mappings in a pod without a user namespace, is InvalidArgument.
 */
export async function idmapVolumes<M extends CriMount>(dirs: Dirs, sandboxId: string, userns: PodUserns | undefined, mounts: readonly M[]): Promise<M[]> {
  const out: M[] = [];
  for (const m of mounts) {
    if (!m.uidMappings?.length && !m.gidMappings?.length) {
      out.push(m);
      continue;
    }
    const what = `mounts: ${m.containerPath ?? ''}`;
    if (!userns) throw new InvalidArgumentError(`${what}: uid/gid mappings need a pod in a user namespace`);
    if (!sameMapping(m.uidMappings, userns.uid) || !sameMapping(m.gidMappings, userns.gid)) {
      throw new InvalidArgumentError(`${what}: the mount's uid/gid mappings must be the pod's (one mapping each)`);
    }
    const src = m.hostPath ?? '';
    if (!path.isAbsolute(src)) throw new InvalidArgumentError(`${what}: host_path ${JSON.stringify(src)} must be an absolute path`);
    const target = path.join(usernsDir(dirs, sandboxId), 'v', createHash('sha256').update(src).digest('hex').slice(0, 32));
    try {
      await ensureIdmapped(dirs, sandboxId, src, target);
    } catch (err) {
      throw new InvalidArgumentError(`${what}: cannot make an idmapped mount of ${JSON.stringify(src)}: ${(err as Error).message}`, { cause: err });
    }
    out.push({ ...m, hostPath: target, uidMappings: [], gidMappings: [] });
  }
  return out;
}
