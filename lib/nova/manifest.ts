/**
 * nova-plugin.json: how a NOVA server finds, checks and runs a module without Python.
 * This file is the schema (as TypeScript types) plus the reader and the io-id resolution that both the module
 * and the server use.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";

export interface IoSpec {
  /** Canonical id (DISCOVER's). */
  id: string;
  /** Other ids requests may use for the same slot (the original module's README ids). */
  aliases: string[];
  /** NOVA's super:sub:specific data type. */
  data: string;
  required?: boolean;
}

export interface PluginManifest {
  name: string;
  version: string;
  description: string;
  runtime: { type: "node"; node: string; module: "esm" };
  /** source: the TypeScript entry; main: its compiled JS, relative to the module folder. */
  entry: { source: string; main: string };
  hooks: string[];
  trainer: string;
  io: { inputs: IoSpec[]; outputs: IoSpec[] };
  models: string[];
  /** What the module needs to run, in the spirit of Deno's permissions, so a host can check before running a job. */
  permissions: { read: string[]; write: string[]; run: string[]; env: string[]; net: boolean };
}

export const MANIFEST_FILE = "nova-plugin.json";

export async function readManifest(moduleDir: string): Promise<PluginManifest> {
  const file = path.join(moduleDir, MANIFEST_FILE);
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, "utf8"));
  } catch (err) {
    throw new Error(`${file}: cannot read plugin manifest: ${(err as Error).message}`);
  }
  return validateManifest(parsed, file);
}

export function validateManifest(value: unknown, file: string): PluginManifest {
  const m = value as Partial<PluginManifest>;
  const need = (ok: boolean, what: string) => {
    if (!ok) throw new Error(`${file}: invalid plugin manifest: ${what}`);
  };
  need(typeof m === "object" && m !== null, "not a JSON object");
  need(typeof m.name === "string" && m.name.length > 0, "'name' must be a non-empty string");
  need(typeof m.version === "string", "'version' must be a string");
  need(m.runtime?.type === "node", "'runtime.type' must be \"node\"");
  need(typeof m.entry?.main === "string" && typeof m.entry?.source === "string", "'entry.source' and 'entry.main' are required");
  need(Array.isArray(m.hooks) && ["load", "predict", "write"].every((h) => m.hooks!.includes(h)), "'hooks' must list load, predict and write");
  need(typeof m.trainer === "string", "'trainer' is required");
  need(Array.isArray(m.io?.inputs) && Array.isArray(m.io?.outputs), "'io.inputs' and 'io.outputs' must be arrays");
  for (const spec of [...m.io!.inputs, ...m.io!.outputs]) {
    need(typeof spec.id === "string" && Array.isArray(spec.aliases) && typeof spec.data === "string", `io entry ${JSON.stringify(spec)} needs id, aliases[], data`);
  }
  need(Array.isArray(m.models), "'models' must be an array");
  need(typeof m.permissions === "object" && m.permissions !== null, "'permissions' is required");
  return m as PluginManifest;
}

/**
 * Maps the ids a request used (canonical or alias) to canonical ids. Unknown ids are kept as they are (a host may
 * pass extra data the module ignores); two ids naming the same slot is an error.
 */
export function resolveIoIds(specs: IoSpec[], given: Record<string, string>): Record<string, string> {
  const canonical = new Map<string, string>();
  for (const s of specs) {
    canonical.set(s.id.toLowerCase(), s.id);
    for (const a of s.aliases) canonical.set(a.toLowerCase(), s.id);
  }
  const out: Record<string, string> = {};
  const from: Record<string, string> = {};
  for (const [id, value] of Object.entries(given)) {
    const key = canonical.get(id.toLowerCase()) ?? id;
    if (key in out) throw new Error(`io ids '${from[key]}' and '${id}' both name '${key}'`);
    out[key] = value;
    from[key] = id;
  }
  return out;
}
