/**
 * TLS: NOVA (since 2025-08) always connects over https and accepts any certificate, so the server needs one; a
 * self-signed certificate is created on first start and kept in cache_dir. Plain http sent to the TLS port gets
 * 426 (as DISCOVER answers): each connection's first byte is peeked; 0x16 starts a TLS handshake record.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import https from "node:https";
import net from "node:net";
import path from "node:path";
import { generate } from "selfsigned";
import { writeFileAtomic } from "../atomic_file.js";
import type { ServerConfig } from "./config.js";

export interface TlsCredentials {
  key: string;
  cert: string;
  /** Where they came from, for the start-up message. */
  source: string;
}

const TLS_HANDSHAKE = 0x16;

/** The configured cert/key, or the self-signed pair in `<cache_dir>/tls/` (created when absent). */
export async function loadOrCreateCredentials(config: ServerConfig): Promise<TlsCredentials> {
  if (config.tlsCert && config.tlsKey) {
    const read = (file: string, what: string) => {
      try {
        return readFileSync(file, "utf8");
      } catch (err) {
        throw new Error(`--tls-${what} ${file}: ${(err as Error).message}`);
      }
    };
    return { cert: read(config.tlsCert, "cert"), key: read(config.tlsKey, "key"), source: config.tlsCert };
  }
  const dir = path.join(config.cacheDir, "tls");
  const certFile = path.join(dir, "server-cert.pem");
  const keyFile = path.join(dir, "server-key.pem");
  if (existsSync(certFile) && existsSync(keyFile)) {
    return { cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8"), source: certFile };
  }
  mkdirSync(dir, { recursive: true });
  const altNames: Array<{ type: 2; value: string } | { type: 7; ip: string }> = [
    { type: 2, value: "localhost" },
    { type: 7, ip: "127.0.0.1" },
    { type: 7, ip: "::1" },
  ];
  if (net.isIP(config.host) && !["0.0.0.0", "::", "127.0.0.1", "::1"].includes(config.host)) altNames.push({ type: 7, ip: config.host });
  const notAfter = new Date();
  notAfter.setFullYear(notAfter.getFullYear() + 10);
  const pems = await generate([{ name: "commonName", value: "facemesh NOVA server (self-signed)" }], {
    keySize: 2048,
    algorithm: "sha256",
    notAfterDate: notAfter,
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
      { name: "extKeyUsage", serverAuth: true },
      { name: "subjectAltName", altNames },
    ],
  });
  await writeFileAtomic(keyFile, pems.private, { mode: 0o600 });
  await writeFileAtomic(certFile, pems.cert, { mode: 0o644 });
  return { cert: pems.cert, key: pems.private, source: `${certFile} (self-signed, created now)` };
}

const UPGRADE_BODY = "HTTPS required - plain HTTP connections are not allowed\n";
const UPGRADE_RESPONSE =
  "HTTP/1.1 426 Upgrade Required\r\n" +
  "Upgrade: TLS/1.2, HTTP/1.1\r\n" +
  "Content-Type: text/plain; charset=utf-8\r\n" +
  `Content-Length: ${Buffer.byteLength(UPGRADE_BODY)}\r\n` +
  "Connection: close\r\n\r\n" +
  UPGRADE_BODY;

/**
 * A net.Server that hands TLS connections to `tlsServer` and answers anything else with 426. The peeked bytes
 * are put back (unshift); Node's TLSSocket feeds a wrapped socket's buffered bytes to the handshake first.
 * `idleMs` bounds how long a connection may stay silent before its first byte.
 */
export function tlsFrontDoor(tlsServer: https.Server, idleMs = 30_000): net.Server {
  return net.createServer((socket) => {
    socket.setTimeout(idleMs, () => socket.destroy());
    socket.on("error", () => socket.destroy());
    socket.once("data", (first: Buffer) => {
      socket.setTimeout(0);
      socket.pause();
      if (first[0] === TLS_HANDSHAKE) {
        socket.unshift(first);
        tlsServer.emit("connection", socket);
      } else {
        // Plain HTTP (or anything else): one fixed answer, no parsing of what the client sent.
        socket.resume(); // discard whatever the client sends
        socket.end(UPGRADE_RESPONSE);
        setTimeout(() => socket.destroy(), 1000).unref();
      }
    });
  });
}
