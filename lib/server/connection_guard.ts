/**
 * Bounds on connections that do not depend on how a socket reached the HTTP parser. Node's own headersTimeout
 * and requestTimeout are only enforced for connections the http server accepted itself; the TLS front door
 * (tls.ts) hands sockets over by emitting 'connection', and those were never cut (a client sending one header
 * line every few seconds held its connection indefinitely). So each HTTP-carrying socket gets its own timers:
 *
 * - headers: from the connection (or the end of the previous response) until a request's headers are complete;
 * - request: from the headers until the request body is complete;
 * - idle: no bytes in either direction for this long.
 *
 * Connection caps (all clients, and per client address) are checked on the listening socket.
 */
import type http from "node:http";
import type net from "node:net";

export interface GuardLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  idleTimeoutMs: number;
  maxConnections: number;
  maxConnectionsPerClient: number;
}

export interface GuardStats {
  /** Connections refused by a cap. */
  refused: number;
  /** Connections cut by a timeout, by kind. */
  cut: { headers: number; request: number; idle: number };
}

const TIMER = Symbol("guardTimer");

type Guarded = net.Socket & { [TIMER]?: NodeJS.Timeout };

function arm(socket: Guarded, ms: number, onFire: () => void): void {
  if (socket[TIMER]) clearTimeout(socket[TIMER]);
  socket[TIMER] = setTimeout(onFire, ms);
  socket[TIMER].unref();
}

function disarm(socket: Guarded): void {
  if (socket[TIMER]) clearTimeout(socket[TIMER]);
  socket[TIMER] = undefined;
}

/**
 * Caps the connections of `listener` (the socket that accepts them). Returns the set of open raw sockets (for
 * shutdown). A refused connection is closed at once, before anything is read from it.
 */
export function capConnections(listener: net.Server, limits: GuardLimits, stats: GuardStats): Set<net.Socket> {
  const open = new Set<net.Socket>();
  const perClient = new Map<string, number>();
  // prependListener: the cap decides before the server's own handler (and the TLS front door) sees the socket.
  listener.prependListener("connection", (socket: net.Socket) => {
    const addr = socket.remoteAddress ?? "?";
    const mine = perClient.get(addr) ?? 0;
    if (open.size >= limits.maxConnections || mine >= limits.maxConnectionsPerClient) {
      stats.refused++;
      socket.destroy();
      return;
    }
    open.add(socket);
    perClient.set(addr, mine + 1);
    socket.once("close", () => {
      open.delete(socket);
      const n = (perClient.get(addr) ?? 1) - 1;
      if (n <= 0) perClient.delete(addr);
      else perClient.set(addr, n);
    });
    // Silence before the HTTP layer takes over (e.g. no TLS handshake) is cut like any other.
    socket.setTimeout(limits.idleTimeoutMs, () => {
      stats.cut.idle++;
      socket.destroy();
    });
  });
  return open;
}

/**
 * Header, body and idle timers on the sockets `server` parses HTTP from. `secureConnection` for https (the
 * TLS socket), `connection` for plain http.
 */
export function guardRequests(server: http.Server, event: "connection" | "secureConnection", limits: GuardLimits, stats: GuardStats): void {
  const waitForHeaders = (socket: Guarded) =>
    arm(socket, limits.headersTimeoutMs, () => {
      stats.cut.headers++;
      socket.destroy();
    });
  server.on(event, (socket: Guarded) => {
    if (socket.destroyed) return;
    waitForHeaders(socket);
    socket.setTimeout(limits.idleTimeoutMs, () => {
      stats.cut.idle++;
      socket.destroy();
    });
    socket.once("close", () => disarm(socket));
  });
  server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket as Guarded;
    arm(socket, limits.requestTimeoutMs, () => {
      stats.cut.request++;
      socket.destroy();
    });
    const bodyDone = () => disarm(socket);
    if (req.complete) bodyDone();
    else req.once("end", bodyDone);
    // The next request on a kept-alive connection must send its headers in time too.
    res.once("finish", () => {
      if (!socket.destroyed) waitForHeaders(socket);
    });
  });
}
