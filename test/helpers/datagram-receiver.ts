// A unix datagram socket bound by another process (python3; Node has no unix datagram sockets),
// standing in for systemd's notify socket: every datagram it receives, in order, with the pid
// the kernel's credentials name as its sender.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const RECEIVER = `
import socket, struct, sys, json
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind('\\0' + path[1:] if path.startswith('@') else path)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
print(json.dumps({'bound': True}), flush=True)
while True:
    data, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
    pid = next((struct.unpack('iII', d[:12])[0] for l, t, d in anc if l == socket.SOL_SOCKET and t == socket.SCM_CREDENTIALS), 0)
    print(json.dumps({'data': data.decode(), 'pid': pid}), flush=True)
`;

export interface Datagram {
  data: string;
  pid: number;
}

export interface DatagramReceiver {
  /** Received so far, oldest first. */
  readonly received: readonly Datagram[];
  /** Resolves with the first datagram (already received or next) whose data `match` accepts. */
  next(match: (d: Datagram) => boolean, timeoutMs?: number): Promise<Datagram>;
  close(): void;
}

/** Binds `path` (a file path, or '@name' for an abstract socket) and starts receiving. */
export async function bindDatagramReceiver(path: string): Promise<DatagramReceiver> {
  const child = spawn('python3', ['-c', RECEIVER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  const received: Datagram[] = [];
  const waiters = new Set<() => void>();
  let bound!: () => void;
  const ready = new Promise<void>((resolve, reject) => {
    bound = resolve;
    child.once('exit', (code) => reject(new Error(`datagram receiver exited with ${code}`)));
  });
  createInterface({ input: child.stdout }).on('line', (line) => {
    const msg = JSON.parse(line) as { bound?: boolean } & Partial<Datagram>;
    if (msg.bound) bound();
    else received.push({ data: msg.data ?? '', pid: msg.pid ?? 0 });
    for (const w of [...waiters]) w();
  });
  await ready;
  return {
    received,
    next(match, timeoutMs = 30_000) {
      return new Promise<Datagram>((resolve, reject) => {
        const check = () => {
          const hit = received.find(match);
          if (!hit) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(hit);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching datagram in ${timeoutMs} ms (received: ${JSON.stringify(received)})`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
