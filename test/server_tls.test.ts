/**
 * The server with --use-tls: HTTPS with a self-signed certificate made on first start and kept in cache_dir, or a
 * given certificate; plain HTTP to the TLS port answers 426.
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import type { TLSSocket } from "node:tls";
import path from "node:path";
import { test } from "node:test";
import { generate } from "selfsigned";
import { JobStatus } from "../lib/server/job_store.js";
import { expectedFixtureOutput, makeRoot, read, SEED_JOB_ID, seedForm, start } from "./server_helpers.js";

/** GET over https trusting only `ca`; resolves with the status and the server certificate's fingerprint. */
function strictGet(url: string, ca: string): Promise<{ status: number; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, agent: false }, (res) => {
      const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, fingerprint }));
    });
    req.on("error", reject);
  });
}

function plainGet(url: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let body = "";
        res.on("data", (c) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      })
      .on("error", reject);
  });
}

test("TLS with a self-signed certificate: jobs run over https, plain http gets 426, the certificate is kept", async (t) => {
  const r = makeRoot(t, { useTls: true });
  const first = await start(t, r);
  assert.match(first.server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const certFile = path.join(first.config.cacheDir, "tls/server-cert.pem");
  const cert = read(certFile);
  const x509 = new X509Certificate(cert);
  assert.match(x509.subjectAltName ?? "", /IP Address:127\.0\.0\.1/);

  // A strict client that trusts exactly this certificate accepts it for 127.0.0.1.
  const strict = await strictGet(`${first.server.url}/job_status_all`, cert);
  assert.equal(strict.status, 200);
  assert.equal(strict.fingerprint, x509.fingerprint256);

  // NOVA's way: accept any certificate; the seed request, multipart as NOVA sends it.
  const res = await first.client.post("/process", seedForm(), true);
  assert.equal(res.status, 200, res.text());
  assert.equal(await first.client.waitFor(SEED_JOB_ID, [JobStatus.FINISHED, JobStatus.ERROR]), JobStatus.FINISHED, await first.client.log(SEED_JOB_ID));
  assert.equal(read(path.join(r.workDir, "path/to/my/stream.stream")), expectedFixtureOutput({ input_data: r.video, face_bb: r.bbox }));
  const up = await first.client.request("POST", "/upload", { multipart: {}, file: { field: "file", name: "a.mp4", data: r.video } });
  assert.match(up.text(), /^upload-[0-9a-f]{24}\.mp4$/);

  // Plain HTTP to the TLS port.
  const plain = await plainGet(`${first.server.url.replace("https:", "http:")}/job_status_all`);
  assert.equal(plain.status, 426);
  assert.match(String(plain.headers.upgrade), /TLS/);
  assert.match(plain.body, /HTTPS required/);
  assert.equal((await first.client.request("GET", "/job_status_all")).status, 200, "https still works after a plain request");

  // Restart: the same certificate is used again, and the finished job is still known.
  await first.server.close();
  const second = await start(t, { ...r, flags: { ...r.flags, port: 0 } });
  assert.equal(read(certFile), cert);
  assert.equal((await strictGet(`${second.server.url}/`, cert)).fingerprint, x509.fingerprint256);
  assert.equal(await second.client.status(SEED_JOB_ID), JobStatus.FINISHED);
});

test("TLS with a given certificate and key", async (t) => {
  const r = makeRoot(t);
  const pems = await generate([{ name: "commonName", value: "localhost" }], {
    keySize: 2048,
    algorithm: "sha256",
    extensions: [{ name: "subjectAltName", altNames: [{ type: 7, ip: "127.0.0.1" }] }],
  });
  const certFile = path.join(r.root, "given-cert.pem");
  const keyFile = path.join(r.root, "given-key.pem");
  writeFileSync(certFile, pems.cert);
  writeFileSync(keyFile, pems.private);
  const { server } = await start(t, { ...r, flags: { ...r.flags, useTls: "true", tlsCert: certFile, tlsKey: keyFile } });
  const got = await strictGet(`${server.url}/job_status_all`, pems.cert);
  assert.equal(got.status, 200);
  assert.equal(got.fingerprint, new X509Certificate(readFileSync(certFile)).fingerprint256);
});
