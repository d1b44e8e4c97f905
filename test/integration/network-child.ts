// A daemon stand-in for the crash tests: runs one PodNetworking call in its own process, so a
// plugin can SIGKILL it mid-way (bundled with test/helpers/bundle.ts; argv[2] is the JSON job).
import { PodNetworking, type PodNetworkArgs, type PodNetworkingOptions } from '../../cri/network/index.js';

const job = JSON.parse(process.argv[2] ?? '{}') as { op: 'setup' | 'teardown'; opts: PodNetworkingOptions; args: PodNetworkArgs };
const net = new PodNetworking(job.opts);
const result = job.op === 'setup' ? await net.setupPodNetwork(job.args) : await net.teardownPodNetwork({ id: job.args.id });
process.stdout.write(JSON.stringify(result ?? null));
