// The shim's command line, parsed the way Go's `flag` package does it (containerd passes
// `-namespace ns -id x ... start`): one or two dashes, `-name value` or `-name=value`, booleans
// without a value, parsing stops at the first non-flag word (the action) or at `--`.
import { InvalidArgumentError } from '../common/index.js';

/** `spare`: a warm server waiting to be adopted by a `start` (shim/spare.ts; run by the launcher). */
export type Action = 'start' | 'delete' | 'serve' | 'spare';

export interface ShimFlags {
  namespace: string;
  /** containerd's gRPC socket path (-address). */
  address: string;
  publishBinary: string;
  id: string;
  bundle: string;
  /** Listen on this path instead of the inherited fd 3. */
  socket: string;
  debug: boolean;
  version: boolean;
  action: Action;
  /** argv as given, for re-executing the server (minus the action word). */
  argv: readonly string[];
  /** Index of the action word in argv, -1 when there is none. */
  actionIndex: number;
}

const STRING_FLAGS = {
  namespace: 'namespace',
  address: 'address',
  'publish-binary': 'publishBinary',
  id: 'id',
  bundle: 'bundle',
  socket: 'socket',
} as const;
const BOOL_FLAGS = { debug: 'debug', v: 'version' } as const;

export function parseFlags(argv: readonly string[]): ShimFlags {
  const out: ShimFlags = {
    namespace: '', address: '', publishBinary: 'containerd', id: '', bundle: '', socket: '',
    debug: false, version: false, action: 'serve', argv, actionIndex: -1,
  };
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      i++;
      break;
    }
    if (!arg.startsWith('-') || arg === '-') break;
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    if (name in BOOL_FLAGS) {
      const key = BOOL_FLAGS[name as keyof typeof BOOL_FLAGS];
      out[key] = eq >= 0 ? parseBool(name, body.slice(eq + 1)) : true;
      continue;
    }
    if (name in STRING_FLAGS) {
      const key = STRING_FLAGS[name as keyof typeof STRING_FLAGS];
      if (eq >= 0) out[key] = body.slice(eq + 1);
      else {
        if (i + 1 >= argv.length) throw new InvalidArgumentError(`flag needs an argument: -${name}`);
        out[key] = argv[++i] as string;
      }
      continue;
    }
    throw new InvalidArgumentError(`flag provided but not defined: -${name}`);
  }
  const word = argv[i];
  if (word === 'start' || word === 'delete' || word === 'spare') {
    out.action = word;
    out.actionIndex = i;
  }
  else if (word !== undefined) throw new InvalidArgumentError(`unknown action ${JSON.stringify(word)}`);
  return out;
}

function parseBool(name: string, v: string): boolean {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(v)) return false;
  throw new InvalidArgumentError(`invalid boolean value ${JSON.stringify(v)} for -${name}`);
}

/** The argv of the long-lived server: the same flags, without the action word. */
export function serverArgv(flags: ShimFlags): string[] {
  return flags.argv.filter((_, i) => i !== flags.actionIndex);
}
