// systemd's readiness protocol (sd_notify(3)) for `Type=notify` (deploy/berth.service, docs/systemd.md):
// systemd passes a unix datagram socket in NOTIFY_SOCKET and waits for "READY=1" before it
// counts the service started (and starts the units ordered after it, kubelet among them);
// "STOPPING=1" says a stop has begun. Sent from the daemon's own process, as systemd's default
// NotifyAccess=main requires.
import type { Logger } from '../common/index.js';
import { sendUnixDatagram } from '../sys/index.js';

export interface SystemdNotifier {
  /** Sends `state` (e.g. "READY=1"); a failure is logged, never thrown. */
  notify(state: string): void;
}

/**
 * The notifier for the NOTIFY_SOCKET in `env`, or undefined when berth was not started by systemd
 * as a notify service. The variable is removed from `env`, as sd_notify's unset_environment does:
 * the shims, runc and CNI plugins berth starts must not inherit it (runc would take it for the
 * container's own socket).
 */
export function takeSystemdNotifier(env: NodeJS.ProcessEnv, log: Logger): SystemdNotifier | undefined {
  const socket = env.NOTIFY_SOCKET;
  delete env.NOTIFY_SOCKET;
  if (socket === undefined || socket === '') return undefined;
  if (!socket.startsWith('/') && !socket.startsWith('@')) {
    log.warn({ socket }, 'NOTIFY_SOCKET is neither a path nor an abstract socket name: systemd will not be told of readiness');
    return undefined;
  }
  return {
    notify(state) {
      try {
        sendUnixDatagram(socket, Buffer.from(state));
      } catch (err) {
        log.warn({ err, socket, state }, 'systemd notification failed');
      }
    },
  };
}
