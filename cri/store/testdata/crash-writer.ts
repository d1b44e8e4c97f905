// Child process for the durability test: writes through the store, prints "written", then
// kills itself with SIGKILL so nothing gets a chance to flush or close.
import { openStore } from '../index.js';
import { containerRecord, sandboxRecord } from './records.js';

const dir = process.argv[2]!;
const store = await openStore(dir);
await store.sandboxNames.reserve('web_default_uid1_0', 'sb1');
await store.sandboxes.create(sandboxRecord('sb1'));
await store.containers.create(containerRecord('c1', 'sb1'));
await store.containers.update('c1', (c) => ({ ...c, startedAt: '1700000001000000000', pid: 4242 }));
await store.recordExit('c1', { exitCode: 3, exitedAt: '1700000002000000000' });
await store.containerNames.reserve('app_web_default_uid1_0', 'c1');
process.stdout.write('written\n');
process.kill(process.pid, 'SIGKILL');
