#!/usr/bin/env node
// berthctl: the CLI for people, speaking CRI to the berth socket: pods, ps, images, shims
// (per-pod shim overhead from /proc), inspect, stats, events, version, info (`-o json|yaml` on
// the listings), pull (with progress), rmi, logs (-f), stop, rm, exec/attach/port-forward
// (WebSocket clients of the streaming URLs), play (a Kubernetes Pod manifest run through the CRI)
// and `demo` (the quickstart pod). The commands are in cli/berthctl-commands.ts; docs/berthctl.md.
import { toStatus } from '../common/index.js';
import { berthctlProgram } from './berthctl-commands.js';

berthctlProgram().parseAsync().catch((err: unknown) => {
  process.stderr.write(`berthctl: ${toStatus(err).message}\n`);
  process.exit(1);
});
