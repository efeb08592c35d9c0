/**
 * One entry of a /process request's `data` list and its `src` (NOVA.md §6), shared by the file: resolution
 * (job_request.ts) and the db: resolution (db_sources.ts) without either importing the other.
 */
export interface DataEntry {
  id: string;
  type: "input" | "output";
  src: string;
  uri?: string;
  uri_template?: string;
  active?: unknown;
  [key: string]: unknown;
}

export interface ParsedSrc {
  origin: string;
  superType: string;
  subType: string;
  specific: string;
}

/** `origin:super[:sub[:specific]]`; origin, super and sub lower-cased (NOVA mixes case: `file:stream:ssiStream`). */
export function parseSrc(src: string): ParsedSrc {
  const [origin = "", superType = "", subType = "", ...rest] = src.split(":");
  return { origin: origin.trim().toLowerCase(), superType: superType.trim().toLowerCase(), subType: subType.trim().toLowerCase(), specific: rest.join(":") };
}
