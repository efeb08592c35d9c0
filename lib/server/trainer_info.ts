/**
 * Reads a .trainer manifest (NOVA.md §2) into the JSON that DISCOVER's /cml_info answers per trainer: the field
 * names of discover-utils' TrainerEncoder (json_utils.py), with meta_io and meta_uri as nested JSON text, as NOVA
 * expects them.
 */
import { readFile } from "node:fs/promises";
import { XMLParser, XMLValidator } from "fast-xml-parser";

export interface TrainerIo {
  type: string;
  id: string;
  data: string;
  default_value: string | null;
  default_active: boolean;
}

export interface TrainerUri {
  id: string | null;
  url: string | null;
  hash: string | null;
  tar: boolean;
}

/** TrainerEncoder's fields (discover-utils), in its order. */
export interface TrainerJson {
  model_script_path: string;
  model_option_path: string;
  model_option_string: string;
  model_weights_path: string;
  model_stream: string;
  model_create: string;
  model_multirole_input: boolean;
  users: Record<string, string>[];
  classes: Record<string, string>[];
  streams: Record<string, string>[];
  register: Record<string, string>[];
  info_trained: boolean;
  meta_frame_step: number;
  meta_right_ctx: number;
  meta_left_ctx: number;
  meta_balance: string;
  meta_backend: string;
  meta_io: string;
  meta_uri: string;
  meta_description: string;
  meta_is_iterable: boolean;
  meta_enable_post_process: boolean;
  meta_category: string;
  ssi_v: string;
  xml_version: string;
}

/** Python-style truthiness of attribute text, as discover-utils' string_to_bool: true/True/1/yes. */
export function attrBool(value: unknown, dflt: boolean): boolean {
  if (value === undefined || value === null) return dflt;
  return ["true", "1", "yes", "y", "t"].includes(String(value).trim().toLowerCase());
}

/**
 * NOVA time strings to milliseconds: "40ms" -> 40, "2s" -> 2000, "40" (int) -> 40 ms, "0.04" (float) -> 40 ms.
 * Empty -> 0.
 */
export function parseTimeMs(value: unknown, what: string): number {
  const s = value === undefined || value === null ? "" : String(value).trim();
  if (s === "") return 0;
  let m = /^([+-]?\d+(?:\.\d+)?)\s*ms$/i.exec(s);
  if (m) return Number(m[1]);
  m = /^([+-]?\d+(?:\.\d+)?)\s*s$/i.exec(s);
  if (m) return Number(m[1]) * 1000;
  if (/^[+-]?\d+$/.test(s)) return Number(s);
  if (/^[+-]?\d*\.\d+$/.test(s)) return Number(s) * 1000;
  throw new Error(`${what} '${s}' is not a time (use e.g. 40ms, 2s, 40 or 0.04)`);
}

type Attrs = Record<string, string>;
type Node = Attrs & Record<string, unknown>;

const REPEATED = new Set(["io", "uri", "item"]);

function childList(node: Node | undefined, tag: string): Node[] {
  const v = node?.[tag];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).filter((x): x is Node => typeof x === "object" && x !== null);
}

function attrsOnly(node: Node): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(node)) if (typeof v === "string") out[k] = v;
  return out;
}

export function parseTrainerXml(xml: string, file: string): TrainerJson {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw new Error(`${file}: not well-formed XML: ${valid.err.msg} (line ${valid.err.line})`);
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: "",
    parseAttributeValue: false,
    parseTagValue: false,
    isArray: (name) => REPEATED.has(name),
  });
  const doc = parser.parse(xml) as Record<string, unknown>;
  const root = doc["trainer"] as Node | undefined;
  if (root === undefined || typeof root !== "object") throw new Error(`${file}: root element must be <trainer>`);
  const one = (tag: string): Node | undefined => {
    const v = root[tag];
    const n = Array.isArray(v) ? v[0] : v;
    return typeof n === "object" && n !== null ? (n as Node) : undefined;
  };
  const info = one("info");
  const meta = one("meta");
  const model = one("model");
  const items = (tag: string) => childList(one(tag), "item").map(attrsOnly);
  const io: TrainerIo[] = childList(meta, "io").map((n) => {
    if (!n.id || !n.type || !n.data) throw new Error(`${file}: <io> needs id, type and data (got ${JSON.stringify(attrsOnly(n))})`);
    return { type: n.type, id: n.id, data: n.data, default_value: n.default_value ?? null, default_active: attrBool(n.default_active, true) };
  });
  const uri: TrainerUri[] = childList(meta, "uri").map((n) => ({ id: n.id ?? null, url: n.url ?? null, hash: n.hash ?? null, tar: attrBool(n.tar, false) }));
  const declaration = (doc["?xml"] as Attrs | undefined)?.version;
  return {
    model_script_path: model?.script ?? "",
    model_option_path: model?.option ?? "",
    model_option_string: model?.optstr ?? "",
    model_weights_path: model?.path ?? "",
    model_stream: model?.stream ?? "0",
    model_create: model?.create ?? "PythonModel",
    model_multirole_input: attrBool(model?.multi_role_input, false),
    users: items("users"),
    classes: items("classes"),
    streams: items("streams"),
    register: items("register"),
    info_trained: attrBool(info?.trained, false),
    meta_frame_step: parseTimeMs(meta?.frameStep, `${file}: frameStep`),
    meta_right_ctx: parseTimeMs(meta?.rightContext, `${file}: rightContext`),
    meta_left_ctx: parseTimeMs(meta?.leftContext, `${file}: leftContext`),
    meta_balance: meta?.balance ?? "none",
    meta_backend: meta?.backend ?? "unknown",
    meta_io: JSON.stringify(io),
    meta_uri: JSON.stringify(uri),
    meta_description: meta?.description ?? "",
    meta_is_iterable: attrBool(meta?.is_iterable, false),
    meta_enable_post_process: attrBool(meta?.enable_post_process, true),
    meta_category: meta?.category ?? "",
    ssi_v: root["ssi-v"] !== undefined ? String(root["ssi-v"]) : "5",
    xml_version: declaration ?? "1.0",
  };
}

export async function readTrainer(file: string): Promise<TrainerJson> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new Error(`${file}: cannot read trainer: ${(err as Error).message}`);
  }
  return parseTrainerXml(text, file);
}

/** The io entries of a parsed trainer. */
export function trainerIo(t: TrainerJson): TrainerIo[] {
  return JSON.parse(t.meta_io) as TrainerIo[];
}
