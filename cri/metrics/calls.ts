// The hook between the CRI server and the metrics (docs/metrics.md): `instrument` (cri/service.ts)
// wraps each unary handler with observeUnary when the daemon has metrics, and the observer sees
// every call once, from its arrival to the status it is answered with.
import type { UnaryHandler } from '../grpc/index.js';

/**
 * Told when a unary CRI call arrives; the function it returns is called once, with the gRPC code
 * the call is answered with (0 = OK) and, on success, the response. Neither may throw.
 */
export type CallObserver = (service: string, method: string, request: unknown) => CallEnd;
export type CallEnd = (code: number, response: unknown) => void;

/** `handler`, with `observe` told of each call and its outcome before the answer is sent. */
export function observeUnary(service: string, method: string, handler: UnaryHandler, observe: CallObserver): UnaryHandler {
  return (call, cb) => {
    const end = observe(service, method, call.request);
    handler(call, (err, res) => {
      end(err ? err.code : 0, res);
      cb(err, res);
    });
  };
}

/** gRPC code names as Go spells them (codes.Code.String()), the `grpc_code` label of go-grpc-prometheus. */
const CODE_NAMES = [
  'OK', 'Canceled', 'Unknown', 'InvalidArgument', 'DeadlineExceeded', 'NotFound', 'AlreadyExists', 'PermissionDenied',
  'ResourceExhausted', 'FailedPrecondition', 'Aborted', 'OutOfRange', 'Unimplemented', 'Internal', 'Unavailable', 'DataLoss',
  'Unauthenticated',
] as const;

export const grpcCodeName = (code: number): string => CODE_NAMES[code] ?? `Code(${code})`;
