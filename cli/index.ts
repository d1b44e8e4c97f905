// cli layer: public door. See docs/architecture.md. The command lines are exported so that
// test/docs.test.ts can hold docs/ to the flags and commands that exist.
export { berthctlProgram } from './berthctl-commands.js';
export { daemonCommand } from './berth-flags.js';
