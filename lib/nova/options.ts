/**
 * Job options: from what a request sends (JSON `options`, older NOVA's `optStr`, CLI flags) to checked, typed
 * FaceMeshOptions. Defaults come from the trainer's optstr only (facemesh.trainer), so NOVA's option dialog and
 * the module cannot disagree.
 */
import type { OptionSpec, Trainer } from "./trainer.js";
import { DEVICES, type Device } from "../inference/devices.js";

export type FaceMeshDevice = Device;
export type NoFaceFill = "zeros" | "nan";
/** Landmark smoothing over time (lib/calculators/landmarks_smoothing.ts): none = MediaPipe's raw rows. */
export type Smoothing = "none" | "one_euro";

export interface FaceMeshOptions {
  /** A face counts as present when the landmark model's score is above this (0..1). */
  min_score_thresh: number;
  /** Frames per model call. */
  batch_size: number;
  device: FaceMeshDevice;
  /** What the landmark values of a frame without a face are. */
  no_face: NoFaceFill;
  /**
   * MediaPipe's tracking rule. Without a bbox stream: video mode (the detector only when no face is tracked, each
   * ROI from the previous frame's landmarks); off: static mode (the detector on every frame). With one: each ROI's
   * rotation from the previous frame's landmarks, and where a track starts from the detector's eyes; off:
   * rotation 0 (or the keypoint stream's eye line). See lib/pipeline/batch.ts.
   */
  tracking: boolean;
  /** one_euro: FaceLandmarker's one-euro filter on the rows (time from the frame timestamps, reset when the face is lost). */
  smoothing: Smoothing;
  /** MediaPipe's refine_landmarks: the attention model, 478 points per face (irises 468..477), 957 values per row. */
  refine_landmarks: boolean;
  /**
   * A video longer than this many seconds is processed in segments of this length (lib/segments.ts), side by side,
   * their rows merged in order; 0: never split.
   */
  segment_seconds: number;
}

export interface ResolvedOptions {
  options: FaceMeshOptions;
  /** Keys that were given but mean nothing to this module (ignored, to be logged). */
  warnings: string[];
}

/**
 * Upper bound of batch_size. A batch holds its decoded frames and 192x192x3 float32 crops (442 KB each) and the
 * model's activations (the first layers alone are ~1 MB per crop): 4096 frames of 640x360 video are ~2.8 GB of
 * frames plus ~6 GB of tensors, and of 1080p video ~25 GB of frames. Throughput stops improving long before
 * (a few hundred frames fill any GPU), so anything larger is a typo that would only exhaust memory.
 */
export const MAX_BATCH_SIZE = 4096;

const NO_FACE_FILLS: readonly NoFaceFill[] = ["zeros", "nan"];
const SMOOTHINGS: readonly Smoothing[] = ["none", "one_euro"];
const KEYS = ["min_score_thresh", "batch_size", "device", "no_face", "tracking", "smoothing", "refine_landmarks", "segment_seconds"] as const satisfies ReadonlyArray<keyof FaceMeshOptions>;

/**
 * Parses NOVA's older `optStr` form: "k=v;k2=v2". Values stay text (resolveOptions coerces them); whitespace
 * around keys and values is dropped; empty parts (";;", a trailing ';') are skipped. Throws on a part without '='.
 */
export function parseOptStr(optStr: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of optStr.split(";")) {
    if (part.trim() === "") continue;
    const eq = part.indexOf("=");
    if (eq < 0) throw new Error(`optStr: "${part.trim()}" is not key=value`);
    const key = part.slice(0, eq).trim();
    if (key === "") throw new Error(`optStr: "${part.trim()}" has no key`);
    out[key] = part.slice(eq + 1).trim();
  }
  return out;
}

/** Parses the JSON `options` form field; it must be a JSON object. */
export function parseOptionsJson(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`options: not valid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error(`options: expected a JSON object like {"batch_size": 50}, got ${JSON.stringify(value)}`);
  }
  return value as Record<string, unknown>;
}

/**
 * Trainer defaults, overridden by `raw`. Values may be strings, numbers or booleans (as NOVA, optStr and the CLI
 * send them); undefined/null mean "not given". Throws on the first invalid value, naming option, value and rule.
 */
export function resolveOptions(trainer: Trainer, raw: Record<string, unknown>): ResolvedOptions {
  const spec = (name: string): OptionSpec => {
    const s = trainer.options.find((o) => o.name === name);
    if (!s) throw new Error(`${trainer.path}: the trainer does not declare option "${name}" (it is the source of option defaults)`);
    return s;
  };
  const value = (name: string): unknown => {
    const given = raw[name];
    return given === undefined || given === null ? spec(name).default : given;
  };

  const min_score_thresh = toNumber("min_score_thresh", value("min_score_thresh"));
  if (!(min_score_thresh >= 0 && min_score_thresh <= 1)) fail("min_score_thresh", value("min_score_thresh"), "must be between 0 and 1");

  const batch_size = toNumber("batch_size", value("batch_size"));
  if (!Number.isInteger(batch_size) || batch_size < 1 || batch_size > MAX_BATCH_SIZE) {
    fail("batch_size", value("batch_size"), `must be a whole number from 1 to ${MAX_BATCH_SIZE}`);
  }

  const segment_seconds = toNumber("segment_seconds", value("segment_seconds"));
  if (!(Number.isFinite(segment_seconds) && segment_seconds >= 0)) fail("segment_seconds", value("segment_seconds"), "must be a number of seconds from 0 (0: never split)");

  const options: FaceMeshOptions = {
    min_score_thresh,
    batch_size,
    device: toChoice("device", value("device"), spec("device"), DEVICES),
    no_face: toChoice("no_face", value("no_face"), spec("no_face"), NO_FACE_FILLS),
    tracking: toBool("tracking", value("tracking")),
    smoothing: toChoice("smoothing", value("smoothing"), spec("smoothing"), SMOOTHINGS),
    refine_landmarks: toBool("refine_landmarks", value("refine_landmarks")),
    segment_seconds,
  };

  const known = new Set<string>(KEYS);
  const warnings = Object.keys(raw)
    .filter((k) => !known.has(k))
    .map((k) => `unknown option "${k}" ignored (known: ${KEYS.join(", ")})`);
  return { options, warnings };
}

function describe(value: unknown): string {
  return typeof value === "string" ? `"${value}"` : String(value);
}

/** An invalid option value; `option` is the trainer's name, so that a command line can name its own flag instead. */
export class OptionError extends Error {
  constructor(
    readonly option: string,
    readonly value: unknown,
    readonly rule: string,
  ) {
    super(`option ${option}=${describe(value)}: ${rule}`);
  }

  /** The same message for the flag the user typed, e.g. `--min-score-thresh`. */
  as(flag: string): string {
    return `${flag}=${describe(this.value)}: ${this.rule}`;
  }
}

function fail(name: string, value: unknown, rule: string): never {
  throw new OptionError(name, value, rule);
}

function toNumber(name: string, value: unknown): number {
  if (typeof value === "number") return value;
  if (typeof value === "string" && value.trim() !== "") {
    const v = Number(value.trim());
    if (!Number.isNaN(v)) return v;
  }
  return fail(name, value, "must be a number");
}

function toBool(name: string, value: unknown): boolean {
  if (typeof value === "boolean") return value;
  if (value === 1 || value === 0) return value === 1;
  if (typeof value === "string") {
    const t = value.trim().toLowerCase();
    if (t === "true" || t === "1") return true;
    if (t === "false" || t === "0") return false;
  }
  return fail(name, value, "must be a boolean (True/False, true/false, 1/0)");
}

/** A LIST option: one of the trainer's declared items (matched case-insensitively, returned as declared) that this code also supports. */
function toChoice<T extends string>(name: string, value: unknown, spec: OptionSpec, supported: readonly T[]): T {
  const declared = spec.choices ?? [];
  if (typeof value !== "string") return fail(name, value, `must be one of ${declared.join(", ")}`);
  const hit = declared.find((c) => c.toLowerCase() === value.trim().toLowerCase());
  if (hit === undefined) return fail(name, value, `must be one of ${declared.join(", ")}`);
  if (!(supported as readonly string[]).includes(hit)) {
    return fail(name, value, `is declared in the trainer but not supported by this code (supported: ${supported.join(", ")})`);
  }
  return hit as T;
}

/** The defaults alone (what a job with no options runs with). */
export function defaultOptions(trainer: Trainer): FaceMeshOptions {
  return resolveOptions(trainer, {}).options;
}

