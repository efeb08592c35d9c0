/**
 * Request bodies: application/x-www-form-urlencoded, multipart/form-data (what NOVA sends) and JSON, each with a
 * size limit. Multipart goes through busboy (the parser behind multer and @fastify/multipart); file parts are
 * ignored except where an endpoint asks for them (/upload, see receiveUpload).
 */
import busboy from "busboy";
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { commitFile, tempPathFor } from "../atomic_file.js";
import { HttpError } from "./http_error.js";
import { safeFileLabel } from "./job_names.js";

export type Fields = Record<string, string>;

export interface BodyLimits {
  /** Whole form / JSON body, and each multipart field. */
  maxBodyBytes: number;
  /** Number of fields. */
  maxFields: number;
}

function mediaType(req: IncomingMessage): string {
  return (req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
}

function declaredLength(req: IncomingMessage): number | undefined {
  const v = req.headers["content-length"];
  return v === undefined ? undefined : Number(v);
}

async function readRaw(req: IncomingMessage, limit: number): Promise<Buffer> {
  const len = declaredLength(req);
  if (len !== undefined && len > limit) throw new HttpError(413, `request body of ${len} bytes is larger than the limit of ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new HttpError(413, `request body is larger than the limit of ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function jsonToFields(value: unknown): Fields {
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new HttpError(400, "JSON body must be an object");
  const out: Fields = {};
  // Nested values (data, options) become JSON text, as they arrive in a form.
  for (const [k, v] of Object.entries(value)) out[k] = typeof v === "string" ? v : JSON.stringify(v);
  return out;
}

/** The body of a request with no file parts wanted: form, multipart or JSON -> fields. Empty body -> {}. */
export async function readFields(req: IncomingMessage, limits: BodyLimits): Promise<Fields> {
  const type = mediaType(req);
  if (type === "multipart/form-data") return (await readMultipart(req, limits, undefined)).fields;
  if (type === "application/x-www-form-urlencoded") {
    const raw = await readRaw(req, limits.maxBodyBytes);
    const out: Fields = {};
    let n = 0;
    for (const [k, v] of new URLSearchParams(raw.toString("utf8"))) {
      if (++n > limits.maxFields) throw new HttpError(413, `more than ${limits.maxFields} form fields`);
      out[k] = v;
    }
    return out;
  }
  if (type === "application/json") {
    const raw = await readRaw(req, limits.maxBodyBytes);
    if (raw.length === 0) return {};
    return jsonToFields(parseJsonBody(raw));
  }
  const raw = await readRaw(req, limits.maxBodyBytes);
  if (raw.length === 0) return {};
  throw new HttpError(415, `unsupported Content-Type '${type || "(none)"}': send application/x-www-form-urlencoded, multipart/form-data or application/json`);
}

/** A JSON body, or a 400 that says why it is not JSON. */
function parseJsonBody(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString("utf8"));
  } catch (err) {
    throw new HttpError(400, `body is not valid JSON: ${(err as Error).message}`);
  }
}

/** Reads a JSON body as a plain object (for /api/update_progress); also accepts a form. */
export async function readJsonObject(req: IncomingMessage, limits: BodyLimits): Promise<Record<string, unknown>> {
  if (mediaType(req) !== "application/json") return readFields(req, limits);
  const raw = await readRaw(req, limits.maxBodyBytes);
  if (raw.length === 0) return {};
  const parsed = parseJsonBody(raw);
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new HttpError(400, "JSON body must be an object");
  return parsed as Record<string, unknown>;
}

export interface UploadTarget {
  /** Form field that carries the file. */
  field: string;
  dir: string;
  maxFileBytes: number;
}

export interface UploadedFile {
  /** File name inside the target dir (random, with the client's extension). */
  storedName: string;
  size: number;
  clientName: string;
}

/** A random stored name that keeps the client's (sanitized) extension, so modules can tell formats apart. */
export function randomUploadName(clientName: string): string {
  const ext = path.extname(clientName).slice(1);
  const safeExt = ext ? `.${safeFileLabel(ext, "").slice(0, 16)}` : "";
  return `upload-${randomBytes(12).toString("hex")}${safeExt === "." ? "" : safeExt}`;
}

async function readMultipart(req: IncomingMessage, limits: BodyLimits, upload: UploadTarget | undefined): Promise<{ fields: Fields; file?: UploadedFile }> {
  let bb: busboy.Busboy;
  try {
    bb = busboy({
      headers: req.headers,
      defParamCharset: "utf8",
      limits: {
        fieldSize: limits.maxBodyBytes,
        fields: limits.maxFields,
        files: upload ? 1 : 16,
        fileSize: upload ? upload.maxFileBytes : limits.maxBodyBytes,
        parts: limits.maxFields + 16,
      },
    });
  } catch (err) {
    throw new HttpError(400, `bad multipart request: ${(err as Error).message}`);
  }
  const fields: Fields = {};
  let problem: HttpError | undefined;
  let file: UploadedFile | undefined;
  const pending: Promise<void>[] = [];
  const tempFiles: string[] = [];
  bb.on("field", (name, value, info) => {
    if (info.valueTruncated) problem ??= new HttpError(413, `form field '${name}' is larger than the limit of ${limits.maxBodyBytes} bytes`, name);
    else fields[name] = value;
  });
  bb.on("fieldsLimit", () => (problem ??= new HttpError(413, `more than ${limits.maxFields} form fields`)));
  bb.on("partsLimit", () => (problem ??= new HttpError(413, "too many parts in the multipart body")));
  bb.on("filesLimit", () => (problem ??= new HttpError(413, "too many files in the request")));
  bb.on("file", (name, stream, info) => {
    if (!upload || name !== upload.field || file || problem) {
      stream.resume(); // not wanted: drain it
      return;
    }
    const storedName = randomUploadName(info.filename ?? "");
    const partial = tempPathFor(path.join(upload.dir, storedName));
    tempFiles.push(partial);
    let size = 0;
    let truncated = false;
    stream.on("data", (c: Buffer) => (size += c.length));
    stream.on("limit", () => {
      truncated = true;
      problem ??= new HttpError(413, `uploaded file is larger than the limit of ${upload.maxFileBytes} bytes`, upload.field);
    });
    pending.push(
      pipeline(stream, createWriteStream(partial, { flags: "wx", mode: 0o600 })).then(async () => {
        if (truncated) return;
        // Rename only when complete: a half-received upload never appears under a usable name.
        await commitFile(partial, path.join(upload.dir, storedName));
        file = { storedName, size, clientName: info.filename ?? "" };
      }),
    );
  });
  const done = new Promise<void>((resolve, reject) => {
    bb.on("close", () => resolve());
    bb.on("error", (err: Error) => reject(new HttpError(400, `bad multipart request: ${err.message}`)));
    req.on("error", (err) => reject(new HttpError(400, `request failed: ${err.message}`)));
  });
  req.pipe(bb);
  try {
    await done;
    await Promise.all(pending);
  } catch (err) {
    problem ??= err instanceof HttpError ? err : new HttpError(500, `could not store the upload: ${(err as Error).message}`);
  }
  await Promise.all(tempFiles.map((f) => rm(f, { force: true })));
  if (problem) {
    const stored = file as UploadedFile | undefined;
    if (stored && upload) await rm(path.join(upload.dir, stored.storedName), { force: true });
    throw problem;
  }
  return { fields, file };
}

/** /upload: one multipart file part stored under a random name in `target.dir`. */
export async function receiveUpload(req: IncomingMessage, limits: BodyLimits, target: UploadTarget): Promise<{ fields: Fields; file: UploadedFile }> {
  if (mediaType(req) !== "multipart/form-data") throw new HttpError(400, `/upload needs a multipart/form-data body with a '${target.field}' file part`);
  const len = declaredLength(req);
  if (len !== undefined && len > target.maxFileBytes + limits.maxBodyBytes) {
    throw new HttpError(413, `request body of ${len} bytes is larger than the upload limit of ${target.maxFileBytes} bytes`);
  }
  const { fields, file } = await readMultipart(req, limits, target);
  if (!file) throw new HttpError(400, `missing file part '${target.field}'`, target.field);
  return { fields, file };
}
