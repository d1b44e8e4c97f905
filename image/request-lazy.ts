// The registry's HTTP client, loaded at the first registry request instead of at daemon start:
// http-request.ts brings node:http, node:https and with them tls, tens of ms of a restart's
// critical path for a module no call needs until a pull (docs/cri.md "Start-up order").
import type { RequestOptions, Response } from './http-request.js';

export async function request(opts: RequestOptions): Promise<Response> {
  const { request: send } = await import('./http-request.js');
  return send(opts);
}
