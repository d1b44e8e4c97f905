// A process that pulls one image into an image root and never exits on its own (the test kills
// it with SIGKILL mid-pull): argv = root, ref, unpack worker script.
import { Level } from 'level';
import path from 'node:path';
import { ImageService, type ImageDb } from '../../image/index.js';

const [root, ref, unpackWorker] = process.argv.slice(2) as [string, string, string];
const db = new Level<string, unknown>(path.join(root, 'meta'), { valueEncoding: 'json' }) as unknown as ImageDb;
await db.open();
const svc = await ImageService.open({ root: path.join(root, 'root'), db, unpackWorker, unpackWorkerMinBytes: 0, idleTimeoutMs: 600_000 });
await svc.unpacker.ready();
setInterval(() => undefined, 1000);
await svc.pull(ref);
process.stdout.write('pulled\n');
