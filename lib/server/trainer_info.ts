/**
 * The JSON that DISCOVER's /cml_info answers per trainer (NOVA.md §6): the field names of discover-utils'
 * TrainerEncoder (json_utils.py), with meta_io and meta_uri as nested JSON text, as NOVA expects them.
 *
 * The XML is read by lib/nova/trainer.ts, the reader the modules use (one rule for booleans and time strings);
 * this file only renames, converts times to milliseconds and fills in the defaults discover-utils' Trainer gives
 * absent attributes. It reads the document without parsing optstr, because the server lists every module's trainer.
 */
import { parseBool, parseTrainerDocument, type TimeSpan, type TrainerDocument } from "../nova/trainer.js";

/** One meta_io entry (discover-utils' ModelIOEncoder). */
export interface TrainerIoJson {
  type: string;
  id: string;
  data: string;
  default_value: string | null;
  default_active: boolean;
}

/** One meta_uri entry (discover-utils' URIEncoder); absent attributes are null. */
export interface TrainerUriJson {
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

/** Parses trainer XML into /cml_info's JSON; `file` names it in errors. */
export function parseTrainerXml(xml: string, file: string): TrainerJson {
  return trainerJson(parseTrainerDocument(xml, file));
}

/** A parsed trainer as TrainerEncoder writes it. Absent times are 0 ms, as in discover-utils. */
export function trainerJson(t: TrainerDocument): TrainerJson {
  const meta = t.meta.attributes;
  const model = t.model.attributes;
  const ms = (span: TimeSpan | undefined) => span?.milliseconds ?? 0;
  const io: TrainerIoJson[] = t.io.map((x) => ({
    type: x.attributes.type, // as written, like DISCOVER
    id: x.id,
    data: x.data,
    default_value: x.attributes.default_value ?? null,
    default_active: x.defaultActive,
  }));
  const uri: TrainerUriJson[] = t.uris.map((u) => ({ id: u.attributes.id ?? null, url: u.attributes.url ?? null, hash: u.attributes.hash ?? null, tar: u.tar }));
  return {
    model_script_path: t.model.script,
    model_option_path: model.option ?? "",
    model_option_string: t.model.optstr,
    model_weights_path: model.path ?? "",
    model_stream: model.stream ?? "0",
    model_create: t.model.create,
    model_multirole_input: model.multi_role_input === undefined ? false : parseBool(model.multi_role_input, "model multi_role_input", t.path),
    users: t.itemLists.users,
    classes: t.itemLists.classes,
    streams: t.itemLists.streams,
    register: t.itemLists.register,
    info_trained: t.info.trained,
    meta_frame_step: ms(t.meta.frameStep),
    meta_right_ctx: ms(t.meta.rightContext),
    meta_left_ctx: ms(t.meta.leftContext),
    meta_balance: meta.balance ?? "none",
    meta_backend: meta.backend ?? "unknown",
    meta_io: JSON.stringify(io),
    meta_uri: JSON.stringify(uri),
    meta_description: t.meta.description,
    meta_is_iterable: t.meta.isIterable ?? false,
    meta_enable_post_process: t.meta.enablePostProcess ?? true,
    meta_category: t.meta.category,
    ssi_v: String(t.version),
    // discover-utils never reads the declaration; it always answers 1.0.
    xml_version: "1.0",
  };
}

/** The io entries of a parsed trainer. */
export function trainerIo(t: TrainerJson): TrainerIoJson[] {
  return JSON.parse(t.meta_io) as TrainerIoJson[];
}
