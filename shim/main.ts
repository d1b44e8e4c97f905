// containerd-shim-berth-v2: the entry point esbuild bundles into one file. The `start` action
// runs once per container and must stay cheap, so everything beyond flag parsing is imported
// lazily: `start` never loads protobuf, ttrpc, koffi, the runc driver or the reaper.
import { InvalidArgumentError, toStatus } from '../common/index.js';
import { parseFlags } from './flags.js';

export const VERSION = '0.1.0';

async function main(argv: readonly string[]): Promise<number> {
  const flags = parseFlags(argv);
  if (flags.version) {
    process.stdout.write(`containerd-shim-berth-v2:\n  Version:  ${VERSION}\n  Runtime:  node ${process.version}\n`);
    return 0;
  }
  switch (flags.action) {
    case 'start': {
      const { startShim } = await import('./start.js');
      const { address } = await startShim(requireNamespace(flags));
      await write(address); // no newline: containerd uses the output verbatim
      return 0;
    }
    case 'delete': {
      const { deleteShim } = await import('./delete.js');
      await write(await deleteShim(requireNamespace(flags)));
      return 0;
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
    process.stderr.write(`containerd-shim-berth-v2: ${toStatus(err).message}\n`);
    process.exit(1);
  },
);
