/**
 * A small client for a NOVA-Server (DISCOVER) compatible server, speaking as NOVA does: form-encoded or multipart
 * POSTs, over http or https (optionally accepting any certificate, as NOVA does since 2025-08). Used by the server
 * tests and usable for end-to-end runs of a real module. Multipart bodies are encoded by the platform's FormData
 * (undici), not by our own code, so the server's parser is tested against an independent encoder.
 */
import http from "node:http";
import https from "node:https";

export interface ClientResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text(): string;
  json<T = unknown>(): T;
}

export type Body =
  | { form: Record<string, string> }
  | { multipart: Record<string, string>; file?: { field: string; name: string; data: Uint8Array } }
  | { json: unknown }
  | { raw: Uint8Array; type: string };

export interface ClientOptions {
  /** Accept any TLS certificate (self-signed). */
  insecureTls?: boolean;
}

async function encode(body: Body): Promise<{ data: Buffer; type: string }> {
  if ("form" in body) return { data: Buffer.from(new URLSearchParams(body.form).toString()), type: "application/x-www-form-urlencoded" };
  if ("json" in body) return { data: Buffer.from(JSON.stringify(body.json)), type: "application/json" };
  if ("raw" in body) return { data: Buffer.from(body.raw), type: body.type };
  const fd = new FormData();
  for (const [k, v] of Object.entries(body.multipart)) fd.append(k, v);
  if (body.file) fd.append(body.file.field, new Blob([body.file.data]), body.file.name);
  const r = new Response(fd);
  return { data: Buffer.from(await r.arrayBuffer()), type: r.headers.get("content-type")! };
}

export class NovaClient {
  private readonly agent: http.Agent;

  constructor(
    readonly baseUrl: string,
    options: ClientOptions = {},
  ) {
    this.agent = baseUrl.startsWith("https:") ? new https.Agent({ rejectUnauthorized: !options.insecureTls, keepAlive: true }) : new http.Agent({ keepAlive: true });
  }

  async request(method: string, path: string, body?: Body): Promise<ClientResponse> {
    const url = new URL(path, this.baseUrl);
    const encoded = body ? await encode(body) : undefined;
    const lib = url.protocol === "https:" ? https : http;
    return new Promise((resolve, reject) => {
      const req = lib.request(
        url,
        {
          method,
          agent: this.agent,
          headers: encoded ? { "Content-Type": encoded.type, "Content-Length": encoded.data.length } : {},
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("error", reject);
          res.on("end", () => {
            const data = Buffer.concat(chunks);
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: data,
              text: () => data.toString("utf8"),
              json: <T>() => JSON.parse(data.toString("utf8")) as T,
            });
          });
        },
      );
      req.on("error", reject);
      req.end(encoded?.data);
    });
  }

  post(path: string, fields: Record<string, string>, multipart = false): Promise<ClientResponse> {
    return this.request("POST", path, multipart ? { multipart: fields } : { form: fields });
  }

  async status(jobID: string): Promise<number> {
    const r = await this.post("/job_status", { jobID });
    if (r.status !== 200) throw new Error(`/job_status ${jobID}: HTTP ${r.status} ${r.text()}`);
    return r.json<{ status: number }>().status;
  }

  /** Polls /job_status until the job is in one of `statuses`; returns that status. */
  async waitFor(jobID: string, statuses: number[], timeoutMs = 30_000, intervalMs = 25): Promise<number> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.status(jobID);
      if (statuses.includes(s)) return s;
      if (Date.now() > end) throw new Error(`job ${jobID} still has status ${s} after ${timeoutMs} ms (waiting for ${statuses.join("/")})`);
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }

  async log(jobID: string): Promise<string> {
    const r = await this.post("/log", { jobID });
    if (r.status !== 200) throw new Error(`/log ${jobID}: HTTP ${r.status} ${r.text()}`);
    return r.json<{ message: string }>().message;
  }

  close(): void {
    this.agent.destroy();
  }
}
