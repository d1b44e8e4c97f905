// Drives test/helpers/tm-daemon.ts as a real child process: start it, read its JSON-line
// reports, send commands over its control socket, kill -9 it.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { bundleEntry } from './bundle.js';
import type { TmCommand, TmDaemonConfig } from './tm-daemon.js';

export interface Report {
  type: string;
  [k: string]: unknown;
}

export class TmDaemonProcess {
  readonly reports: Report[] = [];
  readonly stderr: string[] = [];
  private constructor(readonly child: ChildProcess, readonly cfg: TmDaemonConfig) {}

  static async start(cfg: TmDaemonConfig): Promise<TmDaemonProcess> {
    const entry = await bundleEntry('test/helpers/tm-daemon.ts');
    const child = spawn(process.execPath, [entry, JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const d = new TmDaemonProcess(child, cfg);
    createInterface({ input: child.stdout! }).on('line', (l) => {
      try { d.reports.push(JSON.parse(l) as Report); } catch { d.stderr.push(l); }
    });
    child.stderr!.on('data', (b: Buffer) => d.stderr.push(b.toString()));
    await d.until((r) => r.type === 'ready' || r.type === 'fatal', 20_000);
    const fatal = d.reports.find((r) => r.type === 'fatal');
    if (fatal) throw new Error(`test daemon failed: ${String(fatal.error)} ${d.stderr.join('')}`);
    return d;
  }

  /** Resolves with the first report matching `pred` (already seen or future). */
  async until(pred: (r: Report) => boolean, timeoutMs = 10_000): Promise<Report> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = this.reports.find(pred);
      if (r) return r;
      if (Date.now() > deadline) throw new Error(`no matching report within ${timeoutMs} ms; got ${JSON.stringify(this.reports)} ${this.stderr.join('')}`);
      await new Promise((res) => setTimeout(res, 25));
    }
  }

  exits(): Array<{ containerId: string; id: string; exitStatus: number }> {
    return this.reports.filter((r) => r.type === 'exit') as never;
  }

  send(cmd: TmCommand, timeoutMs = 20_000): Promise<{ ok: boolean; result?: any; error?: { kind: string; message: string } }> {
    return new Promise((resolve, reject) => {
      const sock = net.createConnection(this.cfg.controlSocket);
      const timer = setTimeout(() => { sock.destroy(); reject(new Error(`command ${cmd.op} timed out`)); }, timeoutMs);
      sock.on('error', (e) => { clearTimeout(timer); reject(e); });
      createInterface({ input: sock }).once('line', (l) => {
        clearTimeout(timer);
        sock.end();
        resolve(JSON.parse(l) as never);
      });
      sock.write(`${JSON.stringify(cmd)}\n`);
    });
  }

  async kill9(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGKILL');
    await exited;
  }

  async shutdown(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    await this.send({ op: 'shutdown' }).catch(() => undefined);
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
    await this.kill9();
  }
}
