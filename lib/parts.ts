/**
 * One job run as parts on several machines (the NOVA hooks plan, runPart, join and discardParts of
 * lib/nova/hooks.ts PartedModule; the host's queue carries the parts and results, this module knows no queue).
 *
 *   plan      the job's segments (job.ts segmentPlan: the same rules as one machine's split), one part each, all
 *             naming one parts folder next to the landmark output: `.<output name>.<token>.parts`, the token made
 *             at plan time, so two jobs writing the same output never mix their parts.
 *   runPart   one segment (segments.ts segmentRows: warm-up included) into the parts folder: its raw rows, the
 *             landmarks behind them when a head pose is wanted, and tracking's states (after the warm-up, at each
 *             batch end, at the end) as JSON. Each file is written under a temporary name and renamed, and is
 *             named after this run (a part run twice, e.g. retried after a stall, leaves two sets, and the
 *             result says which set is its own).
 *   join      the parts' rows in order, with the repair of segments.ts where a part's warm-up did not end in
 *             the state the part before ended with, then the stages of an unsplit run (job.ts finishedRows:
 *             smoothing) and its writer (writeLandmarkStream, head pose included): the output is byte for byte
 *             that of an unsplit run. The parts folder goes once the output is in place.
 *   discardParts  removes the parts folder of a job that failed or was cancelled.
 *
 * Float32 rows and points are stored in the machine's byte order (little-endian on every platform Node supports
 * with onnxruntime); tracking states as JSON numbers, which hold doubles exactly (non-finite numbers and -0,
 * which JSON cannot hold, are written as strings).
 */
import { randomBytes } from "node:crypto";
import type { FileHandle } from "node:fs/promises";
import { mkdir, open, readFile, rm, stat } from "node:fs/promises";
import path from "node:path";
import type { HookContext, Logger } from "./nova/hooks.js";
import { commitFile, newTag, tempPathFor, writeFileAtomic } from "./atomic_file.js";
import { finishedRows, openInputs, segmentPlan, writeLandmarkStream, type HeadPoseOutput, type JobInputs, type OpenedInputs, type PredictSettings } from "./job.js";
import type { FaceMesh, RowBatch, TrackState } from "./pipeline.js";
import { repairRows, sameState, segmentRows, TRACKED_SEGMENT_BATCH, type Segment, type SegmentInputs, type SegmentStates, type SegmentStats } from "./segments.js";
import type { SsiHeader } from "./ssi/stream.js";

/** The files of one job, as the hooks resolve them from the request. */
export interface JobFiles {
  inputs: JobInputs;
  /** The landmark stream (header path). */
  out: string;
  headPose?: HeadPoseOutput;
}

const PART_KIND = "facemesh-part/1";
const RESULT_KIND = "facemesh-part-result/1";
const STATES_KIND = "facemesh-part-states/1";

/** One part as plan returns it (a JSON value). */
export interface PartDescriptor {
  kind: typeof PART_KIND;
  index: number;
  /** Parts of the job. */
  count: number;
  segment: { range: { start: number; end?: number }; warmup: number };
  /** The parts folder (absolute), shared by the job's parts. */
  folder: string;
  /** Rows the job's output will have (OpenedInputs.expectedRows): a changed input is noticed. */
  frames: number;
}

/** What runPart returns (a JSON value of a few hundred bytes). */
export interface PartResult {
  kind: typeof RESULT_KIND;
  part: PartDescriptor;
  /** Rows the part wrote. */
  frames: number;
  /** Frames per batch of the run: its states are at these batch ends (a repair must use the same grid). */
  batch: number;
  /** File names in part.folder: Float32 rows (rowDim per frame); per frame a flag (1: a face) and its landmarks; the states (JSON). */
  files: { rows: string; points?: string; states: string };
}

/** `.<output name>.<token>.parts` beside the output. */
export function partsFolder(out: string, token: string): string {
  const file = path.resolve(out);
  return path.join(path.dirname(file), `.${path.basename(file)}.${token}.parts`);
}

const FOLDER_NAME = /^\.(.+)\.([0-9a-f]{16})\.parts$/;
const FILE_NAME = /^part-\d{4,}\.\d+\.[0-9a-f]+\.(rows|points|json)$/;

/** Whether `folder` is a parts folder made for output `out` (and nothing else: discardParts removes it). */
export function isPartsFolderOf(folder: string, out: string): boolean {
  const m = FOLDER_NAME.exec(path.basename(folder));
  return !!m && path.isAbsolute(folder) && partsFolder(out, m[2]!) === folder;
}

// ---------------------------------------------------------------------------------------------------------------
// Tracking states as JSON

type JsonNumber = number | string;
interface JsonState {
  rotation: JsonNumber | null;
  spec: JsonNumber;
  roi: { cx: JsonNumber; cy: JsonNumber; width: JsonNumber; height: JsonNumber; rotation: JsonNumber } | null;
  turn: 0 | 1 | 2 | 3 | null;
}

/** A number JSON holds exactly; NaN, ±Infinity and -0 (which it turns into null or 0) as strings. */
function encodeNumber(x: number): JsonNumber {
  if (Object.is(x, -0)) return "-0";
  return Number.isFinite(x) ? x : String(x);
}

function decodeNumber(v: unknown, where: string): number {
  if (typeof v === "number") return v;
  if (v === "-0") return -0;
  if (v === "NaN" || v === "Infinity" || v === "-Infinity") return Number(v);
  throw new Error(`${where}: not a number: ${JSON.stringify(v)}`);
}

export function encodeTrackState(s: TrackState): JsonState {
  const r = s.roi;
  return {
    rotation: s.rotation === null ? null : encodeNumber(s.rotation),
    spec: encodeNumber(s.spec),
    roi: r ? { cx: encodeNumber(r.cx), cy: encodeNumber(r.cy), width: encodeNumber(r.width), height: encodeNumber(r.height), rotation: encodeNumber(r.rotation) } : null,
    turn: s.turn,
  };
}

export function decodeTrackState(v: unknown, where: string): TrackState {
  if (!isObject(v)) throw new Error(`${where}: not a tracking state`);
  const { rotation, spec, roi, turn } = v;
  if (!(turn === null || turn === 0 || turn === 1 || turn === 2 || turn === 3)) throw new Error(`${where}: bad quarter turn ${JSON.stringify(turn)}`);
  let box: TrackState["roi"] = null;
  if (roi !== null) {
    if (!isObject(roi)) throw new Error(`${where}: bad roi`);
    box = { cx: decodeNumber(roi.cx, where), cy: decodeNumber(roi.cy, where), width: decodeNumber(roi.width, where), height: decodeNumber(roi.height, where), rotation: decodeNumber(roi.rotation, where) };
  }
  return { rotation: rotation === null ? null : decodeNumber(rotation, where), spec: decodeNumber(spec, where), roi: box, turn };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

// ---------------------------------------------------------------------------------------------------------------
// Descriptors and results: checked wherever they come in (they crossed a queue)

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** A part as plan made it, or a clear error. */
export function parsePart(v: unknown): PartDescriptor {
  const bad = (why: string) => new Error(`not a facemesh part (as the plan hook returns them): ${why}`);
  if (!isObject(v) || v.kind !== PART_KIND) throw bad(`expected an object of kind "${PART_KIND}", got ${JSON.stringify(v)?.slice(0, 200)}`);
  const { index, count, segment, folder, frames } = v;
  if (!isCount(count) || count < 2) throw bad(`count ${JSON.stringify(count)}`);
  if (!isCount(index) || index >= count) throw bad(`index ${JSON.stringify(index)} of ${count}`);
  if (!isCount(frames)) throw bad(`frames ${JSON.stringify(frames)}`);
  if (!isObject(segment) || !isObject(segment.range) || !isCount(segment.warmup)) throw bad(`segment ${JSON.stringify(segment)}`);
  const { start, end } = segment.range;
  if (!isCount(start) || !(end === undefined || end === null || (isCount(end) && end > start))) throw bad(`range ${JSON.stringify(segment.range)}`);
  if (typeof folder !== "string" || !path.isAbsolute(folder) || !FOLDER_NAME.test(path.basename(folder))) throw bad(`folder ${JSON.stringify(folder)}`);
  const range = end === undefined || end === null ? { start } : { start, end };
  return { kind: PART_KIND, index, count, segment: { range, warmup: segment.warmup }, folder, frames };
}

/** A result as runPart made it, or a clear error. */
export function parsePartResult(v: unknown): PartResult {
  const bad = (why: string) => new Error(`not a facemesh part result (as the runPart hook returns them): ${why}`);
  if (!isObject(v) || v.kind !== RESULT_KIND) throw bad(`expected an object of kind "${RESULT_KIND}", got ${JSON.stringify(v)?.slice(0, 200)}`);
  const part = parsePart(v.part);
  const { frames, batch, files } = v;
  if (!isCount(frames)) throw bad(`frames ${JSON.stringify(frames)}`);
  if (!isCount(batch) || batch < 1) throw bad(`batch ${JSON.stringify(batch)}`);
  const fileName = (f: unknown) => typeof f === "string" && FILE_NAME.test(f);
  if (!isObject(files) || !fileName(files.rows) || !fileName(files.states) || !(files.points === undefined || fileName(files.points))) throw bad(`files ${JSON.stringify(files)}`);
  return { kind: RESULT_KIND, part, frames, batch, files: { rows: files.rows as string, states: files.states as string, ...(files.points === undefined ? {} : { points: files.points as string }) } };
}

function sameSegment(a: Segment, b: PartDescriptor["segment"]): boolean {
  return a.range.start === b.range.start && (a.range.end ?? null) === (b.range.end ?? null) && a.warmup === b.warmup;
}

// ---------------------------------------------------------------------------------------------------------------
// The hooks' work

/** The inputs and the job's segments, checked against a part made by plan (the inputs must not have changed). */
async function replan(job: JobFiles, settings: PredictSettings, part: PartDescriptor, context: HookContext): Promise<{ opened: OpenedInputs; segments: Segment[]; inputs: SegmentInputs }> {
  // plan logged the inputs' warnings once; each part would repeat them.
  const quiet: Logger = { info: () => undefined, warn: () => undefined, error: (m) => context.logger.error(m) };
  const opened = await openInputs(job.inputs, quiet, settings.tools);
  const plan = await segmentPlan(opened, settings, { ...context, logger: quiet });
  const changed = (why: string) => new Error(`${job.inputs.video}: the job's parts no longer fit its inputs (${why}); were the inputs or options changed since the job was planned?`);
  if (opened.expectedRows !== part.frames) throw changed(`${opened.expectedRows} rows expected, the plan had ${part.frames}`);
  if (!plan) throw changed("it is no longer split into segments");
  if (plan.segments.length !== part.count) throw changed(`${plan.segments.length} segments, the plan had ${part.count}`);
  if (!sameSegment(plan.segments[part.index]!, part.segment)) throw changed(`segment ${part.index} is ${JSON.stringify(plan.segments[part.index])}, the plan had ${JSON.stringify(part.segment)}`);
  return { opened, ...plan };
}

/**
 * The job's parts, or null when it runs whole (the rules of job.ts segmentPlan: video mode, a still image, a video
 * shorter than two segments, no timestamps to seek by). Opens and checks the inputs as predict does.
 */
export async function planParts(job: JobFiles, settings: PredictSettings, context: HookContext): Promise<PartDescriptor[] | null> {
  const opened = await openInputs(job.inputs, context.logger, settings.tools);
  const out = path.resolve(job.out);
  if (job.headPose && path.resolve(job.headPose.path) === out) throw new Error(`${job.headPose.path}: the head-pose output is the landmark output`);
  const dir = await stat(path.dirname(out)).catch(() => null);
  if (!dir?.isDirectory()) throw new Error(`${job.out}: its folder ${path.dirname(out)} does not exist`);
  const plan = await segmentPlan(opened, settings, context);
  if (!plan) return null;
  // The whole job's frames, so that a host summing its parts' progress knows the total from the start.
  context.progress?.(0, opened.expectedRows);
  const folder = partsFolder(out, randomBytes(8).toString("hex"));
  return plan.segments.map((segment, index) => ({
    kind: PART_KIND,
    index,
    count: plan.segments.length,
    segment: { range: segment.range.end === undefined ? { start: segment.range.start } : { ...segment.range }, warmup: segment.warmup },
    folder,
    frames: opened.expectedRows,
  }));
}

/** Frames per batch of a part's run: tracked segments in small batches, as on one machine (segmentedRows). */
function partBatch(settings: PredictSettings): number {
  const { options } = settings;
  const check = settings.segmentCheck ?? options.tracking;
  return check ? Math.min(options.batch_size, TRACKED_SEGMENT_BATCH) : options.batch_size;
}

/** Runs one part (see the file comment); progress is frames done of the segment's frames. */
export async function runPart(mesh: FaceMesh, job: JobFiles, settings: PredictSettings, part: unknown, context: HookContext): Promise<PartResult> {
  const d = parsePart(part);
  if (!isPartsFolderOf(d.folder, job.out)) throw new Error(`${d.folder}: not the parts folder of ${job.out}`);
  const { opened, segments, inputs } = await replan(job, settings, d, context);
  const segment = segments[d.index]!;
  try {
    await mkdir(d.folder);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw new Error(`${d.folder}: cannot make the parts folder: ${(err as Error).message}`, { cause: err });
  }
  const tag = newTag();
  const name = (ext: string) => `part-${String(d.index).padStart(4, "0")}.${tag}.${ext}`;
  const files = { rows: name("rows"), states: name("json"), ...(job.headPose ? { points: name("points") } : {}) };
  const batch = partBatch(settings);
  const pointValues = mesh.pointsPerFace * 3;
  const rowsOut = await PartFileWriter.create(path.join(d.folder, files.rows));
  let pointsOut: PartFileWriter | null = null;
  const states: SegmentStates = { at: new Map() };
  const { start } = segment.range;
  const total = (segment.range.end ?? opened.expectedRows) - start;
  let frames = 0;
  try {
    if (files.points) pointsOut = await PartFileWriter.create(path.join(d.folder, files.points));
    for await (const b of segmentRows(mesh, { ...inputs, run: { ...inputs.run, batchSize: batch } }, segment, undefined, states)) {
      if (b.firstFrame !== start + frames) throw new Error(`part ${d.index}: a batch starts at frame ${b.firstFrame}, expected ${start + frames}`);
      await rowsOut.append(b.rows.subarray(0, b.count * mesh.rowDim));
      if (pointsOut) await pointsOut.append(pointsRecord(b, pointValues));
      frames += b.count;
      context.progress?.(frames, total);
    }
    if (!states.end) throw new Error(`part ${d.index}: the run ended without its tracking state`);
    const record = {
      kind: STATES_KIND,
      index: d.index,
      frames,
      warmedUp: states.warmedUp ? encodeTrackState(states.warmedUp) : null,
      end: encodeTrackState(states.end),
      at: [...states.at].map(([next, s]) => [next, encodeTrackState(s)]),
    };
    await rowsOut.commit();
    await pointsOut?.commit();
    // Last: a states file means the part's other files are complete.
    await writeFileAtomic(path.join(d.folder, files.states), JSON.stringify(record));
  } catch (err) {
    await rowsOut.abort();
    await pointsOut?.abort();
    throw err;
  }
  return { kind: RESULT_KIND, part: d, frames, batch, files };
}

/** A batch's landmarks as stored: per frame a flag (1: a face, 0: none) and `values` floats (zeros where none). */
function pointsRecord(b: RowBatch, values: number): Float32Array {
  if (!b.points || b.points.length < b.count) throw new Error("the pipeline gave no landmarks for the head pose");
  const out = new Float32Array(b.count * (values + 1));
  for (let i = 0; i < b.count; i++) {
    const p = b.points[i];
    if (!p) continue;
    if (p.length < values) throw new Error(`landmarks of ${p.length / 3} points, expected ${values / 3}`);
    out[i * (values + 1)] = 1;
    out.set(p.subarray(0, values), i * (values + 1) + 1);
  }
  return out;
}

/** A file written under a temporary name beside its target and renamed when complete (atomic_file.ts). */
class PartFileWriter {
  private constructor(
    readonly target: string,
    private readonly temp: string,
    private handle: FileHandle | null,
  ) {}

  static async create(target: string): Promise<PartFileWriter> {
    const temp = tempPathFor(target);
    try {
      return new PartFileWriter(target, temp, await open(temp, "wx"));
    } catch (err) {
      throw new Error(`${target}: cannot write: ${(err as Error).message}`, { cause: err });
    }
  }

  async append(values: Float32Array): Promise<void> {
    const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    for (let done = 0; done < bytes.length; ) done += (await this.handle!.write(bytes, done, bytes.length - done)).bytesWritten;
  }

  async commit(): Promise<void> {
    await this.handle!.close();
    this.handle = null;
    await commitFile(this.temp, this.target);
  }

  async abort(): Promise<void> {
    await this.handle?.close().catch(() => undefined);
    this.handle = null;
    await rm(this.temp, { force: true }).catch(() => undefined);
  }
}

/** A part's result with its files checked and its states read (all before anything is written). */
interface LoadedPart {
  result: PartResult;
  range: { start: number; end?: number };
  rowsFile: string;
  pointsFile?: string;
  statesFile: string;
  warmedUp?: TrackState;
  end: TrackState;
}

/** Checks that a part's files are there and complete; reads its states (the batch-end ones again only for a repair). */
async function loadPart(r: PartResult, rowDim: number, pointValues: number | null): Promise<LoadedPart> {
  const file = (name: string) => path.join(r.part.folder, name);
  const checkSize = async (f: string, bytes: number) => {
    const size = await stat(f).then(
      (s) => s.size,
      (err: NodeJS.ErrnoException) => {
        throw new Error(`${f}: part ${r.part.index}'s file is missing (${err.code ?? err.message}): was it removed, or did the part run on a machine that does not share this folder?`, { cause: err });
      },
    );
    if (size !== bytes) throw new Error(`${f}: part ${r.part.index}'s file has ${size} bytes, expected ${bytes} (${r.frames} frames): truncated or not this part's`);
  };
  const rowsFile = file(r.files.rows);
  await checkSize(rowsFile, r.frames * rowDim * 4);
  let pointsFile: string | undefined;
  if (pointValues !== null) {
    if (!r.files.points) throw new Error(`part ${r.part.index} (${file(r.files.rows)}) has no landmarks for the head pose: it ran without the head_pose output`);
    pointsFile = file(r.files.points);
    await checkSize(pointsFile, r.frames * (pointValues + 1) * 4);
  }
  const statesFile = file(r.files.states);
  const record = await readStates(statesFile, r);
  return {
    result: r,
    range: r.part.segment.range,
    rowsFile,
    pointsFile,
    statesFile,
    warmedUp: record.warmedUp === null ? undefined : decodeTrackState(record.warmedUp, statesFile),
    end: decodeTrackState(record.end, statesFile),
  };
}

async function readStates(statesFile: string, r: PartResult): Promise<{ warmedUp: unknown; end: unknown; at: unknown }> {
  let record: unknown;
  try {
    record = JSON.parse(await readFile(statesFile, "utf8"));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === "ENOENT" ? "missing" : e.code ? e.code : `not complete JSON (${e.message})`;
    throw new Error(`${statesFile}: part ${r.part.index}'s tracking states: ${why}`, { cause: err });
  }
  if (!isObject(record) || record.kind !== STATES_KIND || record.index !== r.part.index || record.frames !== r.frames || !Array.isArray(record.at)) {
    throw new Error(`${statesFile}: not the tracking states of part ${r.part.index} (${r.frames} frames)`);
  }
  return { warmedUp: record.warmedUp, end: record.end, at: record.at };
}

async function readStatesAt(part: LoadedPart): Promise<Map<number, TrackState>> {
  const { at } = await readStates(part.statesFile, part.result);
  const map = new Map<number, TrackState>();
  for (const entry of at as unknown[]) {
    if (!Array.isArray(entry) || !isCount(entry[0])) throw new Error(`${part.statesFile}: bad batch-end state ${JSON.stringify(entry)?.slice(0, 100)}`);
    map.set(entry[0], decodeTrackState(entry[1], part.statesFile));
  }
  return map;
}

/** Checks the results as a whole: one per part, in plan order, of one plan, and rows that follow on. */
function checkResults(results: unknown[]): PartResult[] {
  if (results.length === 0) throw new Error("join: no part results");
  const parsed = results.map(parsePartResult);
  const { count, folder } = parsed[0]!.part;
  if (parsed.length !== count) throw new Error(`join: ${parsed.length} part results for a plan of ${count} parts`);
  let next = 0;
  parsed.forEach((r, i) => {
    if (r.part.index !== i || r.part.count !== count || r.part.folder !== folder) throw new Error(`join: result ${i} is part ${r.part.index} of ${r.part.count} in ${r.part.folder}, expected part ${i} of ${count} in ${folder}`);
    const { start, end } = r.part.segment.range;
    if (r.frames > 0 && start !== next) throw new Error(`join: part ${i} starts at frame ${start}, but the parts before it end at frame ${next}`);
    if (end !== undefined && r.frames > end - start) throw new Error(`join: part ${i} has ${r.frames} rows for frames [${start}, ${end})`);
    if (r.frames > 0) next = start + r.frames;
  });
  return parsed;
}

/**
 * Merges the parts' results (in plan order) into the job's outputs (see the file comment), atomically: a missing
 * or truncated part file is named in the error and nothing is written. The parts folder is removed once the
 * outputs are in place. `stats` counts the repairs.
 */
export async function joinParts(
  mesh: FaceMesh,
  job: JobFiles,
  settings: PredictSettings,
  results: unknown[],
  context: HookContext,
  stats: SegmentStats = { repairs: 0, repairedFrames: 0 },
): Promise<SsiHeader> {
  const parsed = checkResults(results);
  const first = parsed[0]!.part;
  if (!isPartsFolderOf(first.folder, job.out)) throw new Error(`${first.folder}: not the parts folder of ${job.out}`);
  const { opened, segments, inputs } = await replan(job, settings, first, context);
  parsed.forEach((r, i) => {
    if (!sameSegment(segments[i]!, r.part.segment)) throw new Error(`join: part ${i} is ${JSON.stringify(r.part.segment)}, but the job's plan has ${JSON.stringify(segments[i])}`);
  });
  const pointValues = job.headPose ? mesh.pointsPerFace * 3 : null;
  const parts: LoadedPart[] = [];
  for (const r of parsed) parts.push(await loadPart(r, mesh.rowDim, pointValues));
  const tracking = settings.segmentCheck ?? settings.options.tracking;
  const raw = joinedRows(mesh, inputs, parts, tracking, settings.options.batch_size, pointValues, stats, context);
  const header = await writeLandmarkStream(job.out, opened.video, finishedRows(raw, mesh, opened, settings, context), { points: mesh.pointsPerFace, headPose: job.headPose });
  await rm(first.folder, { recursive: true, force: true }).catch((err: Error) => context.logger.warn(`${first.folder}: the parts' files could not be removed: ${err.message}`));
  return header;
}

/**
 * The rows of all parts in order, read back in batches of `batch` frames; where a part's warm-up did not end in
 * the state the part before ended with, repaired here (segments.ts repairRows) as on one machine.
 */
async function* joinedRows(
  mesh: FaceMesh,
  inputs: SegmentInputs,
  parts: readonly LoadedPart[],
  tracking: boolean,
  batch: number,
  pointValues: number | null,
  stats: SegmentStats,
  context: HookContext,
): AsyncGenerator<RowBatch> {
  let exactEnd: TrackState | undefined;
  for (const part of parts) {
    const index = part.result.part.index;
    const { start } = part.range;
    let from = start;
    let end = part.end;
    if (tracking && exactEnd && start > 0 && !(part.warmedUp && sameState(part.warmedUp, exactEnd))) {
      stats.repairs++;
      const theirs = await readStatesAt(part);
      const mine: SegmentStates = { at: new Map() };
      const repair = segmentRows(mesh, { ...inputs, run: { ...inputs.run, batchSize: part.result.batch } }, { range: part.range, warmup: 0, startState: exactEnd }, undefined, mine);
      const after = yield* repairRows(repair, (next) => mine.at.get(next), async (next) => theirs.get(next), stats);
      const why = `part ${index}: its warm-up did not end in the tracking state part ${index - 1} ended with`;
      if (after === undefined) {
        // The repair ran to the part's end: it is the part.
        if (!mine.end) throw new Error(`part ${index}: the repair ended without its tracking state`);
        from = start + part.result.frames;
        end = mine.end;
        context.logger.info(`${why}: run again from that state to its end (frames ${start}-${from - 1})`);
      } else {
        from = after;
        context.logger.info(`${why}: frames ${start}-${after - 1} run again from that state, then the part's own rows`);
      }
    }
    yield* partRows(part, from, batch, mesh.rowDim, pointValues, context.signal);
    exactEnd = end;
  }
}

/** A part's stored rows (and landmarks) from frame `from` on, `batch` frames at a time. */
async function* partRows(part: LoadedPart, from: number, batch: number, rowDim: number, pointValues: number | null, signal?: AbortSignal): AsyncGenerator<RowBatch> {
  const { start } = part.range;
  const stop = start + part.result.frames;
  if (from >= stop) return;
  const rows = await open(part.rowsFile, "r");
  const points = part.pointsFile ? await open(part.pointsFile, "r") : null;
  try {
    for (let first = from; first < stop; first += batch) {
      if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error("cancelled");
      const count = Math.min(batch, stop - first);
      const batchRows = new Float32Array(count * rowDim);
      await readExactly(rows, part.rowsFile, batchRows, (first - start) * rowDim * 4);
      let batchPoints: Array<Float32Array | null> | undefined;
      if (points && pointValues !== null) {
        const record = new Float32Array(count * (pointValues + 1));
        await readExactly(points, part.pointsFile!, record, (first - start) * (pointValues + 1) * 4);
        batchPoints = [];
        for (let i = 0; i < count; i++) {
          const at = i * (pointValues + 1);
          batchPoints.push(record[at] === 1 ? record.subarray(at + 1, at + 1 + pointValues) : null);
        }
      }
      yield batchPoints ? { rows: batchRows, count, firstFrame: first, points: batchPoints } : { rows: batchRows, count, firstFrame: first };
    }
  } finally {
    await rows.close();
    await points?.close();
  }
}

async function readExactly(handle: FileHandle, file: string, into: Float32Array, position: number): Promise<void> {
  const bytes = new Uint8Array(into.buffer, into.byteOffset, into.byteLength);
  let done = 0;
  while (done < bytes.length) {
    const { bytesRead } = await handle.read(bytes, done, bytes.length - done, position + done);
    if (bytesRead === 0) throw new Error(`${file}: ends at byte ${position + done}, expected ${position + bytes.length}: truncated`);
    done += bytesRead;
  }
}

/**
 * Removes the parts folder of `parts` (as plan returned them) for a job that failed or was cancelled; nothing
 * there is fine. Only a folder plan makes for one of the job's `outputs` is removed.
 */
export async function discardParts(outputs: readonly string[], parts: unknown[]): Promise<void> {
  const folders = new Set(parts.map((p) => parsePart(p).folder));
  for (const folder of folders) {
    if (!outputs.some((out) => isPartsFolderOf(folder, out))) throw new Error(`${folder}: not a parts folder of this job's outputs (${outputs.join(", ")}): left as it is`);
    await rm(folder, { recursive: true, force: true });
  }
}
