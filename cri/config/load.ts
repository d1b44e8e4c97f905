// Loading: TOML text -> checked, defaulted, frozen BerthConfig. Two file formats share one key
// table (keys.ts): berth's own (CRI keys at the top level) and containerd 1.6's config.toml
// (version = 2, CRI keys under [plugins."io.containerd.grpc.v1.cri"]).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse, TomlError } from 'smol-toml';
import { InvalidArgumentError, NotFoundError, deepFreeze, isBerthError } from '../../common/index.js';
import { DEFAULT_CONFIG, RUNC_OPTIONS_ZERO, runtimeZero } from './defaults.js';
import { BERTH_FILE, CONTAINERD_FILE, CRI_PLUGIN, RUNC_OPTIONS } from './keys.js';
import { isRuncLikeRuntime } from './runtime.js';
import { formatPath, isTable, parseValue, type ParseContext, type Path } from './schema.js';
import type { BerthConfig, ConfigOverrides, RuntimeConfig } from './types.js';
import { refuseUnsupported } from './unsupported.js';

type Loose = Record<string, unknown>;

/** Reads and checks a config file; no path means the built-in defaults. Overrides win over the file. */
export async function loadConfig(file?: string, overrides?: ConfigOverrides): Promise<BerthConfig> {
  if (file === undefined) return naming('config: ', () => buildConfig({}, [], { format: 'defaults', ignored: [] }, overrides));
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new NotFoundError(`config file ${file} does not exist`, { cause: err });
    }
    throw new InvalidArgumentError(`config file ${file}: ${(err as Error).message}`, { cause: err });
  }
  return parseConfig(text, { source: file, ...(overrides ? { overrides } : {}) });
}

/** Parses config text in either format. Errors are InvalidArgumentError naming the dotted key. */
export function parseConfig(text: string, opts: { source?: string; overrides?: ConfigOverrides } = {}): BerthConfig {
  const where = opts.source ? `config ${opts.source}: ` : 'config: ';
  return naming(where, () => {
    let doc: Loose;
    try {
      doc = parse(text) as Loose;
    } catch (err) {
      if (err instanceof TomlError) throw new InvalidArgumentError(`invalid TOML: ${err.message}`, { cause: err });
      throw err;
    }
    const ctx: ParseContext = { ignored: [] };
    const isContainerd = 'plugins' in doc || 'version' in doc;
    let partial: Loose;
    let criPath: Path;
    if (isContainerd) {
      if (doc.version !== 2) {
        throw new InvalidArgumentError(
          `version: berth reads containerd config version 2 files (containerd 1.x), got ${JSON.stringify(doc.version ?? 1)}; ` +
            'convert older files with `containerd config migrate`',
        );
      }
      const { plugins, version: _v, ...daemon } = parseValue(CONTAINERD_FILE, doc, [], ctx) as Loose;
      partial = { ...daemon, ...((plugins as Loose | undefined)?.cri as Loose | undefined) };
      criPath = ['plugins', CRI_PLUGIN];
    } else {
      partial = parseValue(BERTH_FILE, doc, [], ctx) as Loose;
      criPath = [];
    }
    const meta = {
      format: isContainerd ? ('containerd' as const) : ('berth' as const),
      ignored: ctx.ignored,
      ...(opts.source ? { source: opts.source } : {}),
    };
    return buildConfig(partial, criPath, meta, opts.overrides, ctx);
  });
}

// Every config error says which file it is about.
function naming<T>(where: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (isBerthError(err)) throw new InvalidArgumentError(where + err.message, { cause: err.cause ?? err });
    throw err;
  }
}

function buildConfig(
  partial: Loose,
  criPath: Path,
  meta: Pick<BerthConfig, 'format' | 'ignored' | 'source'>,
  overrides: ConfigOverrides | undefined,
  ctx: ParseContext = { ignored: [] },
): BerthConfig {
  let cfg = mergeLayer(DEFAULT_CONFIG as unknown as Loose, partial, criPath, ctx, true);
  if (overrides) cfg = mergeLayer(cfg, overrides as Loose, criPath, ctx, false);
  const full = { ...cfg, ...meta } as unknown as BerthConfig;
  check(full, criPath);
  return deepFreeze(full);
}

// One layer (file or overrides) over the config so far. The ttrpc socket follows a moved gRPC
// socket unless set itself (containerd: empty ttrpc address = "<grpc address>.ttrpc").
function mergeLayer(base: Loose, layer: Loose, criPath: Path, ctx: ParseContext, fromToml: boolean): Loose {
  const merged = deepMerge(base, layer) as Loose;
  const layerRuntimes = (layer.containerd as Loose | undefined)?.runtimes as Loose | undefined;
  if (layerRuntimes) {
    const baseRuntimes = (base.containerd as Loose).runtimes as Record<string, RuntimeConfig>;
    const runtimes: Record<string, RuntimeConfig> = { ...baseRuntimes };
    for (const [name, entry] of Object.entries(layerRuntimes)) {
      const at = [...criPath, 'containerd', 'runtimes', name];
      runtimes[name] = completeRuntime(baseRuntimes[name], entry as Loose, at, ctx, fromToml);
    }
    (merged.containerd as Loose).runtimes = runtimes;
  }
  const grpc = (layer.grpc as Loose | undefined)?.address;
  const ttrpc = (layer.ttrpc as Loose | undefined)?.address;
  if (ttrpc === '' || (ttrpc === undefined && typeof grpc === 'string')) {
    merged.ttrpc = { address: `${(merged.grpc as Loose).address as string}.ttrpc` };
  }
  return merged;
}

// A runtime table from a layer, completed from the built-in entry of the same name (when it has
// the same kind of options) or from zero values. A runtime berth has no entry for needs a type.
function completeRuntime(
  base: RuntimeConfig | undefined,
  entry: Loose,
  at: Path,
  ctx: ParseContext,
  fromToml: boolean,
): RuntimeConfig {
  const type = (entry.runtimeType as string | undefined) ?? base?.runtimeType;
  if (!type) throw new InvalidArgumentError(`${formatPath([...at, 'runtime_type'])}: required for a new runtime`);
  const runcLike = isRuncLikeRuntime(type);
  const start = base && isRuncLikeRuntime(base.runtimeType) === runcLike
    ? base
    : runtimeZero(type, runcLike ? RUNC_OPTIONS_ZERO : {});
  let options = start.options;
  if (entry.options !== undefined) {
    if (!isTable(entry.options)) throw new InvalidArgumentError(`${formatPath([...at, 'options'])}: expected table`);
    options = runcLike
      ? { ...start.options, ...(fromToml ? (parseValue(RUNC_OPTIONS, entry.options, [...at, 'options'], ctx) as Loose) : entry.options) }
      : structuredClone(entry.options);
  }
  return { ...start, ...entry, runtimeType: type, options } as RuntimeConfig;
}

function check(cfg: BerthConfig, criPath: Path): void {
  const names = Object.keys(cfg.containerd.runtimes);
  if (!names.includes(cfg.containerd.defaultRuntimeName)) {
    throw new InvalidArgumentError(
      `${formatPath([...criPath, 'containerd', 'default_runtime_name'])}: ${JSON.stringify(cfg.containerd.defaultRuntimeName)} ` +
        `names no runtime (configured: ${names.join(', ') || 'none'})`,
    );
  }
  for (const [key, value] of [['root', cfg.root], ['state', cfg.state], ['grpc.address', cfg.grpc.address], ['ttrpc.address', cfg.ttrpc.address]] as const) {
    if (!path.isAbsolute(value)) throw new InvalidArgumentError(`${key}: expected an absolute path, got ${JSON.stringify(value)}`);
  }
  refuseUnsupported(cfg, criPath);
}

function deepMerge(base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  if (!isPlain(base) || !isPlain(over)) return over;
  const out: Loose = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge(base[k], v);
  return out;
}

function isPlain(v: unknown): v is Loose {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
