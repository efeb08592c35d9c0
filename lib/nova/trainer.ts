/**
 * NOVA .trainer files: the XML manifest a NOVA server reads to list a module, its inputs/outputs and options.
 *   <trainer ssi-v="5">
 *     <info trained="true" seed="1234"/>
 *     <meta backend="nova-server" category=".." description=".." is_iterable="False" [leftContext rightContext frameStep ..]>
 *       <io type="input|output" id=".." data="super:sub:specific" default_value=".." [default_active="False"]/>
 *       <uri id url hash tar/>
 *     </meta>
 *     <model create=".." script=".." optstr="{name:TYPE:default};..."/>
 *   </trainer>
 * Our facemesh.trainer is the single source of option defaults (see options.ts). The job server reads every
 * module's trainer with parseTrainerDocument (lib/server/trainer_info.ts): one reader, one rule for booleans and
 * times.
 */
import { readFile } from "node:fs/promises";
import { attributesOf, childrenOf, parseXmlRoot, type XmlElement } from "../ssi/xml.js";

/** Option types: the NOVA client renders STRING, BOOL and LIST; INT and FLOAT are accepted for other writers. */
export type OptionType = "STRING" | "BOOL" | "LIST" | "INT" | "FLOAT";
export type OptionValue = string | number | boolean;

export interface OptionSpec {
  name: string;
  type: OptionType;
  /** The default as written in optstr (for LIST: the whole item list). */
  defaultText: string;
  /**
   * The default as a value: BOOL -> boolean; INT/FLOAT -> number; LIST -> its first item; STRING -> a number
   * when the text parses as one (what the NOVA client sends for it), else the text.
   */
  default: OptionValue;
  /** LIST only: the allowed items, in order. */
  choices?: string[];
}

/** A duration from a time string: "40ms", "2s"; a bare integer is milliseconds, a bare decimal seconds. */
export interface TimeSpan {
  text: string;
  seconds: number;
  /** The same duration in milliseconds (DISCOVER's unit), scaled from the decimal text: "1.1s" is exactly 1100. */
  milliseconds: number;
}

export interface TrainerIo {
  type: "input" | "output";
  id: string;
  /** super:sub:specific as written. */
  data: string;
  /** stream | annotation | text | image | table ... */
  super: string;
  /** Video | Audio | SSIStream | Discrete | Continuous | Free ... ("" when absent) */
  sub: string;
  /** Everything after the second ':' (for SSI streams the media type, which contains ';'); "" when absent. */
  specific: string;
  defaultValue: string;
  /** default_active; true when absent. */
  defaultActive: boolean;
  attributes: Record<string, string>;
}

export interface TrainerUri {
  id: string;
  url: string;
  hash: string;
  tar: boolean;
  /** As written: an absent attribute is absent here, where the fields above read "". */
  attributes: Record<string, string>;
}

/** The SSI trainer lists: each a list of <item> attribute sets. NOVA server modules leave them empty. */
export const ITEM_LISTS = ["users", "classes", "streams", "register"] as const;
export type ItemList = (typeof ITEM_LISTS)[number];

/** A trainer as written, its optstr as text: what any module's trainer must satisfy (see parseTrainerDocument). */
export interface TrainerDocument {
  /** The file it was read from (or the name given to parseTrainer). */
  path: string;
  version: number;
  info: { trained: boolean; seed?: number; attributes: Record<string, string> };
  meta: {
    backend: string;
    category: string;
    description: string;
    isIterable?: boolean;
    isProcessable?: boolean;
    isTrainable?: boolean;
    enablePostProcess?: boolean;
    leftContext?: TimeSpan;
    rightContext?: TimeSpan;
    frameStep?: TimeSpan;
    attributes: Record<string, string>;
  };
  /** NOVA only lists a module as a server module when backend is nova-server or Python (any case). */
  isServerModule: boolean;
  io: TrainerIo[];
  uris: TrainerUri[];
  model: { create: string; script: string; optstr: string; attributes: Record<string, string> };
  itemLists: Record<ItemList, Record<string, string>[]>;
}

/** A trainer with its options parsed: what running a module needs. */
export interface Trainer extends TrainerDocument {
  options: OptionSpec[];
}

export async function readTrainer(file: string): Promise<Trainer> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new Error(`${file}: cannot read trainer: ${(err as Error).message}`);
  }
  return parseTrainer(text, file);
}

/** Parses trainer XML, optstr included; `file` names it in errors. */
export function parseTrainer(xml: string, file: string): Trainer {
  const document = parseTrainerDocument(xml, file);
  return { ...document, options: parseOptionSpecs(document.model.optstr, file) };
}

/**
 * Parses trainer XML but leaves optstr as text. A server lists every module's trainer, and published module
 * trainers carry optstrs that only the NOVA client's lenient reading accepts (discover-modules: a "]" closing the
 * last option, options without braces, braces around the whole list); DISCOVER passes optstr on unread, and so can we.
 */
export function parseTrainerDocument(xml: string, file: string): TrainerDocument {
  const bad = (what: string): never => {
    throw new Error(`${file}: invalid trainer: ${what}`);
  };
  const root = parseXmlRoot(xml, "trainer", file);
  const rootAttrs = attributesOf(root);
  // discover-utils writes trainers without ssi-v (and reads none; its default is 5).
  const ssiV = rootAttrs["ssi-v"];
  const version = ssiV === undefined ? 5 : Number(ssiV);
  if (ssiV !== undefined && (ssiV.trim() === "" || !Number.isInteger(version))) bad(`<trainer> needs an integer ssi-v attribute, found "${ssiV}"`);

  const one = (tag: string, required: boolean): XmlElement | undefined => {
    const list = childrenOf(root, tag);
    if (list.length > 1) bad(`expected one <${tag}> element, found ${list.length}`);
    if (required && list.length === 0) bad(`missing <${tag}> element`);
    return list[0];
  };

  const infoAttrs = attributesOf(one("info", false) ?? {});
  const info: Trainer["info"] = { trained: parseBool(infoAttrs.trained ?? "false", "info trained", file), attributes: infoAttrs };
  if (infoAttrs.seed !== undefined && infoAttrs.seed !== "") {
    const seed = Number(infoAttrs.seed);
    if (!Number.isInteger(seed)) bad(`info seed="${infoAttrs.seed}" is not an integer`);
    info.seed = seed;
  }

  const metaElement = one("meta", true)!;
  const m = attributesOf(metaElement);
  const meta: Trainer["meta"] = {
    backend: m.backend ?? "",
    category: m.category ?? "",
    description: m.description ?? "",
    attributes: m,
  };
  const boolAttrs = [["is_iterable", "isIterable"], ["is_processable", "isProcessable"], ["is_trainable", "isTrainable"], ["enable_post_process", "enablePostProcess"]] as const;
  for (const [attr, key] of boolAttrs) {
    if (m[attr] !== undefined) meta[key] = parseBool(m[attr], `meta ${attr}`, file);
  }
  for (const key of ["leftContext", "rightContext", "frameStep"] as const) {
    if (m[key] !== undefined && m[key].trim() !== "") meta[key] = parseTimeSpan(m[key], `meta ${key}`, file);
  }

  const io = childrenOf(metaElement, "io").map((e, i) => parseIo(attributesOf(e), i, file));
  const seen = new Set<string>();
  for (const x of io) {
    const key = `${x.type}:${x.id}`;
    if (seen.has(key)) bad(`${x.type} id "${x.id}" is declared twice`);
    seen.add(key);
  }
  const uris = childrenOf(metaElement, "uri").map((e): TrainerUri => {
    const a = attributesOf(e);
    return { id: a.id ?? "", url: a.url ?? "", hash: a.hash ?? "", tar: parseBool(a.tar ?? "false", "uri tar", file), attributes: a };
  });

  const modelAttrs = attributesOf(one("model", true)!);
  if (!modelAttrs.create) bad("<model> needs a create attribute");
  if (!modelAttrs.script) bad("<model> needs a script attribute");
  const model = { create: modelAttrs.create, script: modelAttrs.script, optstr: modelAttrs.optstr ?? "", attributes: modelAttrs };

  const itemLists = {} as TrainerDocument["itemLists"];
  for (const tag of ITEM_LISTS) itemLists[tag] = childrenOf(one(tag, false) ?? {}, "item").map(attributesOf);

  return {
    path: file,
    version,
    info,
    meta,
    isServerModule: /^(nova-server|python)$/i.test(meta.backend.trim()),
    io,
    uris,
    model,
    itemLists,
  };
}

function parseIo(a: Record<string, string>, index: number, file: string): TrainerIo {
  const where = `${file}: <io> ${index + 1}${a.id ? ` (id "${a.id}")` : ""}`;
  const type = (a.type ?? "").toLowerCase();
  if (type !== "input" && type !== "output") throw new Error(`${where}: type="${a.type ?? ""}" must be input or output`);
  if (!a.id) throw new Error(`${where}: needs an id`);
  const data = a.data ?? "";
  // NOVA splits on ':' and keeps three parts; the specific part of an SSI stream type holds ';' but never ':'
  // in a correct file - keep anything after the second ':' together so a stray ':' cannot lose text.
  const parts = data.split(":");
  if (parts[0] === "") throw new Error(`${where}: needs a data type (super:sub:specific)`);
  return {
    type,
    id: a.id,
    data,
    super: parts[0],
    sub: parts[1] ?? "",
    specific: parts.slice(2).join(":"),
    defaultValue: a.default_value ?? "",
    defaultActive: a.default_active === undefined ? true : parseBool(a.default_active, `io "${a.id}" default_active`, file),
    attributes: a,
  };
}

/**
 * True/true/1 and False/false/0, any case (NOVA.md §2; NOVA writes Python's True/False). Anything else is an
 * error, not a guess: NOVA takes only True/true/1 as true, so reading "yes" as true would disagree with NOVA.
 */
export function parseBool(text: string, what: string, file: string): boolean {
  const t = text.trim().toLowerCase();
  if (t === "true" || t === "1") return true;
  if (t === "false" || t === "0") return false;
  throw new Error(`${file}: ${what}="${text}" is not a boolean (True/False/1/0)`);
}

/** "40ms" -> 0.04 s, "2s" -> 2 s, "40" -> 40 ms (an integer is milliseconds), "0.5" -> 0.5 s (a decimal is seconds). */
export function parseTimeSpan(text: string, what: string, file: string): TimeSpan {
  const m = /^\s*(\d+(?:\.\d*)?|\.\d+)(?:[eE]([-+]?\d+))?\s*(ms|s)?\s*$/i.exec(text);
  if (!m) throw new Error(`${file}: ${what}="${text}" is not a time (e.g. "40ms", "2s", 40 = ms, 0.04 = s)`);
  const [, digits, exponentText, unitText] = m;
  const unit = unitText?.toLowerCase();
  const inMs = unit === "ms" || (unit === undefined && exponentText === undefined && /^\d+$/.test(digits));
  // Scale by moving the decimal exponent rather than multiplying, so both units are the nearest double to the text.
  const exponent = Number(exponentText ?? 0) + (inMs ? 0 : 3);
  const milliseconds = Number(`${digits}e${exponent}`);
  return { text, seconds: Number(`${digits}e${exponent - 3}`), milliseconds };
}

const TYPE_ALIASES: Record<string, OptionType> = {
  STRING: "STRING", STR: "STRING",
  BOOL: "BOOL", BOOLEAN: "BOOL",
  LIST: "LIST",
  INT: "INT", INTEGER: "INT",
  FLOAT: "FLOAT", DOUBLE: "FLOAT", NUMBER: "FLOAT",
};

/** Parses optstr `{name:TYPE:default};{...}`; `file` names the trainer in errors. */
export function parseOptionSpecs(optstr: string, file: string): OptionSpec[] {
  const specs: OptionSpec[] = [];
  const bad = (what: string): never => {
    throw new Error(`${file}: invalid optstr: ${what}`);
  };
  let rest = optstr.trim();
  while (rest !== "") {
    const m = /^\{([^{}]*)\}\s*(;\s*)?/.exec(rest);
    if (!m) bad(`expected "{name:TYPE:default}" at "${rest.slice(0, 40)}"`);
    rest = rest.slice(m![0].length);
    const body = m![1];
    const first = body.indexOf(":");
    const second = first < 0 ? -1 : body.indexOf(":", first + 1);
    if (second < 0) bad(`"{${body}}" must be name:TYPE:default`);
    const name = body.slice(0, first).trim();
    const typeText = body.slice(first + 1, second).trim();
    const defaultText = body.slice(second + 1).trim();
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) bad(`option name "${name}" is not an identifier`);
    if (specs.some((s) => s.name === name)) bad(`option "${name}" is declared twice`);
    const type = TYPE_ALIASES[typeText.toUpperCase()];
    if (!type) bad(`option "${name}": unknown type "${typeText}" (STRING, BOOL, LIST, INT, FLOAT)`);
    specs.push(optionSpec(name, type, defaultText, file));
  }
  return specs;
}

function optionSpec(name: string, type: OptionType, defaultText: string, file: string): OptionSpec {
  const where = `${file}: option "${name}" (${type})`;
  switch (type) {
    case "BOOL":
      return { name, type, defaultText, default: parseBool(defaultText, `option "${name}" default`, file) };
    case "LIST": {
      const choices = defaultText.split(",").map((s) => s.trim());
      if (choices.some((c) => c === "")) throw new Error(`${where}: list "${defaultText}" has an empty item`);
      return { name, type, defaultText, default: choices[0], choices };
    }
    case "INT": {
      const v = Number(defaultText);
      if (defaultText === "" || !Number.isInteger(v)) throw new Error(`${where}: default "${defaultText}" is not an integer`);
      return { name, type, defaultText, default: v };
    }
    case "FLOAT": {
      const v = Number(defaultText);
      if (defaultText === "" || !Number.isFinite(v)) throw new Error(`${where}: default "${defaultText}" is not a number`);
      return { name, type, defaultText, default: v };
    }
    case "STRING": {
      // The NOVA client sends text that parses as int/float as a JSON number.
      const v = Number(defaultText);
      return { name, type, defaultText, default: defaultText !== "" && Number.isFinite(v) ? v : defaultText };
    }
  }
}

/** Finds an io by id and direction. */
export function findIo(trainer: Trainer, type: "input" | "output", id: string): TrainerIo | undefined {
  return trainer.io.find((x) => x.type === type && x.id === id);
}
