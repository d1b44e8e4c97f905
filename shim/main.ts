// containerd-shim-berth-v2: the entry point esbuild bundles into one file. The `start` action
// runs once per container and must stay cheap, so everything beyond flag parsing is imported
// lazily: `start` never loads protobuf, ttrpc, koffi, the runc driver or the reaper.
import { writeSync } from 'node:fs';
import { InvalidArgumentError, toStatus } from '../common/index.js';
import { parseFlags } from './flags.js';

const VERSION = '0.1.0';

async function main(argv: readonly string[]): Promise<number> {
  const flags = parseFlags(argv);
  if (flags.version) {
    process.stdout.write(`containerd-shim-berth-v2:\n  Version:  ${VERSION}\n  Runtime:  node ${process.version}\n`);
    return 0;
  }
  switch (flags.action) {
    case 'start': {
      const { startDetached } = await import('./start.js');
      const address = await startDetached(requireNamespace(flags));
      await write(address); // no newline: containerd uses the output verbatim
      return 0;
    }
    case 'delete': {
      const { deleteShim } = await import('./delete.js');
      await write(await deleteShim(requireNamespace(flags)));
      return 0;
    }
    case 'spare': {
      const { runSpare } = await import('./spare.js');
      await runSpare(requireNamespace(flags));
      return -1; // waits for a start to adopt it
    }
    case 'serve': {
      const { serve } = await import('./server.js');
      await serve(requireNamespace(flags));
      return -1; // keeps running
    }
  }
}

function requireNamespace<T extends { namespace: string }>(flags: T): T {
  if (!flags.namespace) throw new InvalidArgumentError('shim namespace cannot be empty');
  return flags;
}

function write(data: string | Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(data, (err) => (err ? reject(err) : resolve())));
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    const message = toStatus(err).message;
    // A server started by the launcher's `start` has /dev/null as stderr: `start` prints this.
    const reportFd = Number(process.env.BERTH_SHIM_START_FD ?? -1);
    if (reportFd >= 0) {
      try {
        writeSync(reportFd, `err:${message}`);
      } catch {
        // the launcher is gone; nobody is left to tell
      }
    }
    process.stderr.write(`containerd-shim-berth-v2: ${message}\n`);
    process.exit(1);
  },
);
