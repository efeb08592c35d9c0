/**
 * Job ids come from the client (NOVA uses e.g. "´face_mesh_stream") and may hold any Unicode, path separators or
 * "..". They name files (logs, result folders), so they are never used raw: a readable ASCII slug plus a hash of
 * the exact id keeps names distinct (ids that slug alike still differ) and safe on any file system.
 */
import { createHash } from "node:crypto";

export const MAX_JOB_ID_LENGTH = 1000;

export function safeJobName(jobId: string): string {
  const slug = jobId
    .normalize("NFKD")
    .replace(/\p{M}/gu, "") // combining marks left by NFKD (the acute of "´" or "é")
    .replace(/[^A-Za-z0-9._-]+/g, "_")
    .replace(/^[._-]+|[._-]+$/g, "")
    .slice(0, 48);
  const hash = createHash("sha256").update(jobId, "utf8").digest("hex").slice(0, 12);
  return `${slug || "job"}-${hash}`;
}

/** A plain file name for a client-chosen label (io id, uploaded file's extension): ASCII, no separators. */
export function safeFileLabel(label: string, fallback: string): string {
  const s = label
    .normalize("NFKD")
    .replace(/\p{M}/gu, "")
    .replace(/[^A-Za-z0-9._-]+/g, "_")
    .replace(/^[._-]+/, "")
    .slice(0, 80);
  return s || fallback;
}
