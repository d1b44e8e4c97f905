// Every connection to the CRI socket passes here before the gRPC server sees it (docs/clients.md).
//
// grpc-go up to v1.54 (kubelet and crictl up to 1.28) sends the socket path as `:authority`;
// Node's HTTP/2 server resets every such stream. The gate reads the client's first flight:
//
//   client preface, SETTINGS ...  --> gate answers an empty SETTINGS (the server preface: grpc-go
//                                     waits for one before its first call)
//   SETTINGS ACK of that frame    --> dropped (the real server never sent that SETTINGS)
//   first HEADERS block           --> decoded once: is its authority valid?
//
//   valid   --> the bytes read so far go back into the socket (unshift) and the native socket is
//               handed over: no per-byte cost for the rest of the connection.
//   invalid --> the connection is served through an AuthorityRewriter for its whole life.
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../common/index.js';
import { EMPTY_SETTINGS, FrameReader, FrameType, Flag, isSettingsAck, splitHeadersPayload } from './frames.js';
import { authorityOf, BlockDecoder, isValidAuthority } from './headers.js';
import { AuthorityRewriter } from './rewriter.js';

/** A first flight larger than this is not a gRPC client's: the gate stops reading and hands over. */
const MAX_SNIFF_BYTES = 256 * 1024;

export interface GateStats {
  /** Connections handed over as they are. */
  direct: number;
  /** Connections served through a rewriter. */
  rewritten: number;
}

/**
 * Reads the first flight of `socket`, then calls `serve` with the socket itself or with a
 * rewriting Duplex around it. `sniffing` holds the sockets still being read (for shutdown).
 */
export function gateConnection(socket: Socket, serve: (conn: Duplex) => void, log: Logger, stats: GateStats, sniffing: Set<Socket>): void {
  const reader = new FrameReader({ expectPreface: true });
  const kept: Buffer[] = []; // every byte read, in order, but the dropped ACK
  let ackDropped = false;
  let firstBlock: Buffer[] | undefined; // fragments of the first header block until END_HEADERS
  let verdict: 'valid' | 'invalid' | undefined;
  let total = 0;

  const finish = (how: 'direct' | 'rewrite') => {
    socket.off('data', onData);
    socket.off('error', onGone);
    socket.off('close', onGone);
    sniffing.delete(socket);
    socket.pause();
    const first = Buffer.concat([...kept, reader.rest()]);
    if (how === 'direct') {
      stats.direct++;
      if (first.length > 0) socket.unshift(first);
      serve(socket);
    } else {
      stats.rewritten++;
      serve(new AuthorityRewriter(socket, first, log));
    }
  };

  const onData = (chunk: Buffer) => {
    total += chunk.length;
    reader.push(chunk);
    const preface = reader.preface();
    if (preface === 'bad') return finish('direct'); // not HTTP/2: the server answers it as it would
    if (preface) kept.push(preface);
    for (let f = reader.next(); f; f = reader.next()) {
      if (!ackDropped && isSettingsAck(f)) {
        ackDropped = true;
        continue;
      }
      kept.push(f.raw);
      if (verdict) continue;
      try {
        if (f.type === FrameType.HEADERS && !firstBlock) firstBlock = [splitHeadersPayload(f).fragment];
        else if (f.type === FrameType.CONTINUATION && firstBlock) firstBlock.push(f.payload);
        else continue;
        if (f.flags & Flag.END_HEADERS) {
          const authority = authorityOf(new BlockDecoder().decode(Buffer.concat(firstBlock)));
          verdict = authority === undefined || isValidAuthority(authority) ? 'valid' : 'invalid';
          if (verdict === 'invalid') log.debug({ authority }, 'CRI client sends an authority the HTTP/2 server refuses: rewriting its header blocks');
        }
      } catch (err) {
        // A block the gate cannot read is the server's to refuse.
        log.debug({ err }, 'CRI connection: first header block unreadable; handing it over as it is');
        verdict = 'valid';
      }
    }
    if (verdict && ackDropped) return finish(verdict === 'valid' ? 'direct' : 'rewrite');
    if (total > MAX_SNIFF_BYTES) {
      log.warn({ bytes: total }, 'CRI connection sent no complete first request in its first flight; handing it over as it is');
      // The ACK, if still to come, would surprise the server: a client this odd gets that error.
      finish('direct');
    }
  };
  const onGone = () => {
    sniffing.delete(socket);
    socket.destroy();
  };

  sniffing.add(socket);
  socket.on('data', onData);
  socket.on('error', onGone);
  socket.on('close', onGone);
  socket.write(EMPTY_SETTINGS);
}
