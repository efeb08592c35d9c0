/**
 * The NOVA-Server (DISCOVER) compatible HTTP(S) server: endpoints of NOVA.md §6 on node:http. startServer only
 * wires things together: the API object (api.ts: records, runner, limits), the route table (endpoints.ts, one
 * handler per endpoint), listening, TLS (tls.ts), connection bounds (connection_guard.ts) and shutdown.
 *
 * Why node:http + busboy rather than a framework: a dozen fixed routes need no router; the TLS front door
 * (tls.ts) hands raw sockets to the same request handler; and busboy is the multipart parser that the
 * frameworks' own plugins use, already a dependency. Nothing else is pulled in.
 */
import http from "node:http";
import https from "node:https";
import type net from "node:net";
import { createApi, exchange, sendJson, type ServerApi } from "./api.js";
import type { ServerConfig } from "./config.js";
import { prepareDirectories } from "./config.js";
import { capConnections, guardRequests, type GuardStats } from "./connection_guard.js";
import { routeFor } from "./endpoints.js";
import { HttpError } from "./http_error.js";
import type { JobRunner } from "./job_manager.js";
import type { JobStore } from "./job_store.js";
import { loadOrCreateCredentials, tlsFrontDoor } from "./tls.js";

export { dataTypeMatches } from "./endpoints.js";

export interface RunningServer {
  /** Base URL, e.g. https://127.0.0.1:8443 */
  url: string;
  port: number;
  config: ServerConfig;
  manager: JobRunner;
  store: JobStore;
  /** Connections refused by the caps and cut by the timeouts so far. */
  guardStats: GuardStats;
  /** Stops listening, ends running jobs (they become ERROR), closes the job store. */
  close(): Promise<void>;
}

/** After an error answer, at most this much of an unread request body is drained before the socket is dropped. */
const MAX_DRAIN_BYTES = 16 * 1024 * 1024;

/** Dispatches a request to its endpoint's handler; any error becomes a JSON answer (500 only for our bugs). */
function requestHandler(api: ServerApi): http.RequestListener {
  return (req, res) => {
    const ex = exchange(req, res, api.limits);
    const run = async () => {
      const route = routeFor(ex.path);
      if (!route) throw new HttpError(404, `no endpoint ${ex.path}`);
      const method = ex.method === "HEAD" ? "GET" : ex.method;
      if (!route.methods.includes(method)) {
        res.setHeader("Allow", route.methods[0]);
        throw new HttpError(405, `${ex.method} is not allowed on ${ex.path}; use ${route.methods[0]}`);
      }
      await route.handler(api, ex);
    };
    run().catch((err: unknown) => {
      const e = err instanceof HttpError ? err : new HttpError(500, `internal error: ${(err as Error)?.message ?? String(err)}`);
      if (!(err instanceof HttpError)) console.error(err);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (!req.complete) {
        // The body was not read to the end (too large, or refused early): drain a bounded amount, then hang up.
        res.setHeader("Connection", "close");
        let drained = 0;
        req.on("data", (c: Buffer) => {
          drained += c.length;
          if (drained > MAX_DRAIN_BYTES) req.destroy();
        });
        req.resume();
      }
      sendJson(res, e.status, e.field ? { success: "False", error: e.message, field: e.field } : { success: "False", error: e.message });
    });
  };
}

export async function startServer(config: ServerConfig): Promise<RunningServer> {
  prepareDirectories(config);
  const api = await createApi(config);
  const handler = requestHandler(api);
  const serverOptions: http.ServerOptions = {
    // Node's own timers (plain http); connection_guard.ts enforces the same bounds on every socket.
    requestTimeout: config.requestTimeoutMs,
    headersTimeout: config.headersTimeoutMs,
    keepAliveTimeout: 5_000,
  };
  const guardStats: GuardStats = { refused: 0, cut: { headers: 0, request: 0, idle: 0 } };
  let listener: net.Server;
  let httpServer: http.Server;
  let scheme: string;
  if (config.useTls) {
    const creds = await loadOrCreateCredentials(config);
    httpServer = https.createServer({ ...serverOptions, key: creds.key, cert: creds.cert, handshakeTimeout: config.headersTimeoutMs }, handler);
    httpServer.on("tlsClientError", () => {
      /* a client that gave up on the handshake (e.g. rejected our self-signed cert) is not our error */
    });
    guardRequests(httpServer, "secureConnection", config, guardStats);
    listener = tlsFrontDoor(httpServer as https.Server, config.idleTimeoutMs);
    scheme = "https";
  } else {
    httpServer = http.createServer(serverOptions, handler);
    guardRequests(httpServer, "connection", config, guardStats);
    listener = httpServer;
    scheme = "http";
  }
  const sockets = capConnections(listener, config, guardStats);
  await new Promise<void>((resolve, reject) => {
    listener.once("error", reject);
    listener.listen(config.port, config.host, () => {
      listener.off("error", reject);
      resolve();
    });
  });
  const address = listener.address() as net.AddressInfo;
  const hostForUrl = address.family === "IPv6" ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    url: `${scheme}://${hostForUrl}:${address.port}`,
    port: address.port,
    config,
    manager: api.manager,
    store: api.store,
    guardStats,
    close() {
      closing ??= (async () => {
        const closed = new Promise<void>((r) => listener.close(() => r()));
        for (const s of sockets) s.destroy();
        httpServer.closeAllConnections();
        await api.manager.close();
        await closed;
        api.store.close();
      })();
      return closing;
    },
  };
}
