/**
 * Bounds on a /process request, checked before the job is accepted: every value that later crosses a process
 * boundary (the job's IPC message) or is stored (job details) has a bounded size, depth and type. A request
 * outside them is refused with a 400 naming the field, never accepted and then failed later (a 6000-deep
 * `options` once made the IPC serialisation throw after the job was marked RUNNING).
 */
import { HttpError } from "./http_error.js";

export const REQUEST_BOUNDS = {
  /** Nesting of any JSON field (options, data, sessions). NOVA sends 2-3 levels. */
  maxDepth: 16,
  /** Values (object members, array items, scalars) in one JSON field. */
  maxValues: 10_000,
  /** Data entries of one job. */
  maxDataEntries: 256,
  /** Any one string inside a JSON field (a uri, an option value). */
  maxString: 64 * 1024,
  /** trainerFilePath, as text. */
  maxTrainerPath: 1024,
} as const;

/**
 * Refuses JSON text nested deeper than `maxDepth` without parsing it (a scan of brackets outside strings), so
 * nothing deep is ever built.
 */
export function checkJsonDepth(text: string, field: string, maxDepth: number = REQUEST_BOUNDS.maxDepth): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) throw new HttpError(400, `field '${field}' is nested more than ${maxDepth} levels deep`, field);
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
}

/** Counts values and checks string lengths of parsed JSON (iteratively: no recursion on client data). */
export function checkJsonValue(value: unknown, field: string): void {
  const stack: unknown[] = [value];
  let count = 0;
  while (stack.length) {
    const v = stack.pop();
    if (++count > REQUEST_BOUNDS.maxValues) throw new HttpError(400, `field '${field}' has more than ${REQUEST_BOUNDS.maxValues} values`, field);
    if (typeof v === "string") {
      if (v.length > REQUEST_BOUNDS.maxString) throw new HttpError(400, `field '${field}' has a string longer than ${REQUEST_BOUNDS.maxString} characters`, field);
    } else if (Array.isArray(v)) stack.push(...v);
    else if (v !== null && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) {
        if (k.length > REQUEST_BOUNDS.maxString) throw new HttpError(400, `field '${field}' has a key longer than ${REQUEST_BOUNDS.maxString} characters`, field);
        stack.push(x);
      }
    }
  }
}

/** The JSON-valued form fields of /process and what each must be. */
const JSON_FIELDS: Record<string, "object" | "array" | "any"> = { options: "object", data: "array", sessions: "any" };

/**
 * Checks a /process form's shape: JSON fields bounded in depth and size and of the right type, data entries
 * counted, trainerFilePath short. The fields' meaning is checked later (job_request.ts); this only makes sure
 * that whatever is accepted can be stored, logged and sent to the job's process.
 */
export function checkProcessForm(fields: Record<string, string>): void {
  const trainer = fields.trainerFilePath;
  if (trainer !== undefined && trainer.length > REQUEST_BOUNDS.maxTrainerPath) {
    throw new HttpError(400, `field 'trainerFilePath' is longer than ${REQUEST_BOUNDS.maxTrainerPath} characters`, "trainerFilePath");
  }
  for (const [field, kind] of Object.entries(JSON_FIELDS)) {
    const text = fields[field]?.trim();
    if (!text) continue;
    checkJsonDepth(text, field);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new HttpError(400, `field '${field}' is not valid JSON: ${(err as Error).message}`, field);
    }
    checkJsonValue(value, field);
    if (kind === "object" && (value === null || typeof value !== "object" || Array.isArray(value))) {
      throw new HttpError(400, `field '${field}' must be a JSON object`, field);
    }
    if (kind === "array" && !Array.isArray(value)) throw new HttpError(400, `field '${field}' must be a JSON list`, field);
    if (field === "data" && (value as unknown[]).length > REQUEST_BOUNDS.maxDataEntries) {
      throw new HttpError(400, `field 'data' has more than ${REQUEST_BOUNDS.maxDataEntries} entries`, "data");
    }
  }
}
