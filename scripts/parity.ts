/**
 * npm run parity: our pipeline (static mode) against MediaPipe's own web pipeline, frame by frame, on the
 * shared images and talking-head videos; plus all pipelines against the 68-point ground truth.
 *
 * For each group (an image folder, or one video):
 *   - per frame where both found a face: mean landmark distance / MediaPipe's inter-ocular distance
 *     (lib/metrics.ts meshDistance); median and p95 over frames;
 *   - face-found agreement: the share of frames where both pipelines decide alike.
 * Targets: median <= 0.5%, p95 <= 2%, agreement >= 98% in every group. The exit code is 1 when one is missed
 * (for the first --half-pixel configuration; the others are informational), 2 on an error.
 * The original Python module's recipe (scripts/legacy_recipe.ts) is measured alongside as a baseline.
 *
 * Video mode: our video mode (no bbox stream, tracking on) against MediaPipe's video mode (the reference's `none`
 * mode) on every frame of every shared video, same targets, per video (scripts/video_parity.ts).
 *
 * MediaPipe's landmarks come from scripts/mediapipe_reference.ts (cached; computing them needs Chromium).
 * Writes .cache/parity/results.json (per group and per frame) and prints markdown tables.
 *
 * --refine: MediaPipe's refine_landmarks on both sides (478 points; MediaPipe's references from
 * `mediapipe_reference.js --refine`, static and video mode), plus the iris centres' (468, 473) distance / IOD
 * (target: median <= 0.5%); no legacy baseline.
 *
 * Usage: node dist/scripts/parity.js [--only SUBSTR] [--half-pixel default|true|false[,...]] [--no-legacy] [--mode static|video|all] [--refine]
 */
import { existsSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { writeFileAtomic } from "../lib/atomic_file.js";
import { fileURLToPath } from "node:url";
import { FaceMesh } from "../lib/pipeline.js";
import type { FaceLandmarks, RgbImage } from "../lib/types.js";
import {
  agreementRate,
  meshDistance,
  meshTo68,
  pointDistance,
  nearestFace,
  nme68,
  parseMesh68Mapping,
  summarize,
  type Mesh68Mapping,
  type Point2,
  type Summary,
} from "../lib/metrics.js";
import { LegacyRecipe, novaBoxFromDetection } from "./legacy_recipe.js";
import { compareFrame, summarizeParity, videoModeRows, type ParitySummary } from "./video_parity.js";
import {
  PROJECT_ROOT,
  SHARED_DATA,
  PixelHash,
  cachedReference,
  decodeInput,
  mediapipeReferences,
  parityInputs,
  type InputSpec,
  type MpReference,
} from "./mediapipe_reference.js";

export const TARGETS = { median: 0.005, p95: 0.02, agreement: 0.98 } as const;
const resultsFile = (refine: boolean): string => path.join(PROJECT_ROOT, `.cache/parity/results${refine ? "_refine" : ""}.json`);

type HalfPixelSetting = boolean | undefined;

interface Cli {
  only: string | null;
  halfPixel: HalfPixelSetting[];
  legacy: boolean;
  static: boolean;
  video: boolean;
  refine: boolean;
}

function parseCli(argv: string[]): Cli {
  const cli: Cli = { only: null, halfPixel: [undefined], legacy: true, static: true, video: true, refine: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--only") cli.only = argv[++i] ?? null;
    else if (a === "--mode") {
      const m = argv[++i];
      if (m !== "static" && m !== "video" && m !== "all") throw new Error(`--mode takes static, video or all, got "${m}"`);
      cli.static = m !== "video";
      cli.video = m !== "static";
    }
    else if (a === "--no-legacy") cli.legacy = false;
    else if (a === "--refine") cli.refine = true;
    else if (a === "--half-pixel") {
      cli.halfPixel = (argv[++i] ?? "").split(",").map((v) => {
        if (v === "default") return undefined;
        if (v === "true" || v === "false") return v === "true";
        throw new Error(`--half-pixel takes default, true or false (comma-separated), got "${v}"`);
      });
    } else throw new Error(`unknown argument ${a}; usage: parity.js [--only SUBSTR] [--half-pixel default|true|false[,...]] [--no-legacy] [--mode static|video|all] [--refine]`);
  }
  // The legacy recipe gives 468 points only.
  if (cli.refine) cli.legacy = false;
  return cli;
}

const configName = (h: HalfPixelSetting): string => (h === undefined ? "ours" : `ours halfPixel=${h}`);

/** A table row: images of one folder, or one video. */
function groupOf(s: InputSpec): string {
  return s.kind === "video" ? `${s.dataset}/${s.name}` : s.dataset;
}

interface FrameRecord {
  group: string;
  input: string;
  frame: number;
  mpFound: boolean;
  mpMs: number;
  /** Per configuration: face found, score, distance / IOD to MediaPipe (when both found a face). */
  ours: Array<{ found: boolean; score: number | null; rel: number | null }>;
  legacy: { found: boolean; conf: number | null; rel: number | null } | null;
}

// ---------------------------------------------------------------------------------------------------------------
// Ground truth.

interface GtFace {
  pts: Array<[number, number]>;
}
type GtFile = Record<string, Record<string, GtFace[]>>;

/** The annotated faces of an image, looked up by file name (takeo.ppm is annotated as takeo.png). */
function gtFaces(gt: GtFile, s: InputSpec): { set: string; faces: Point2[][] } | null {
  const names = [path.basename(s.file), `${s.name}.png`];
  const hits: Array<{ set: string; faces: Point2[][] }> = [];
  for (const [set, images] of Object.entries(gt)) {
    for (const n of names) {
      if (images[n]) {
        hits.push({ set, faces: images[n].map((f) => f.pts as Point2[]) });
        break;
      }
    }
  }
  if (hits.length > 1) throw new Error(`gt68.json: ${path.basename(s.file)} is annotated in several sets (${hits.map((h) => h.set).join(", ")})`);
  return hits[0] ?? null;
}

interface GtRecord {
  set: string;
  image: string;
  /** method -> NME (all 68, inner 51) or null when the method found no face matching an annotated one. */
  nme: Record<string, { all: number; inner: number } | null>;
}

function evaluateGt(points: ArrayLike<number> | null, faces: Point2[][], mapping: Mesh68Mapping, width: number, height: number): { all: number; inner: number } | null {
  if (!points) return null;
  const pred = meshTo68(points, mapping, width, height);
  const k = nearestFace(pred, faces);
  if (k < 0) return null;
  const r = nme68(pred, faces[k]);
  return { all: r.all, inner: r.inner };
}

// ---------------------------------------------------------------------------------------------------------------
// Reports.

const pct = (v: number, digits = 2): string => (Number.isFinite(v) ? `${(v * 100).toFixed(digits)}%` : "n/a");
/** Parity distances are often far below 0.01% of the IOD: three decimals. */
const pct3 = (v: number): string => pct(v, 3);

interface GroupResult {
  group: string;
  frames: number;
  mpFaces: number;
  configs: Array<{ name: string; faces: number; agreement: number; rel: Summary; pass: boolean }>;
  legacy: { rel: Summary; faces: number } | null;
  mpMs: Summary;
  mpTrackingMs: Summary | null;
}

function judge(rel: Summary, agreement: number): boolean {
  // A group where no frame has a face on both sides (the no-face control) is judged on agreement alone.
  const distanceOk = rel.n === 0 || (rel.median <= TARGETS.median && rel.p95 <= TARGETS.p95);
  return distanceOk && agreement >= TARGETS.agreement;
}

function groupResults(records: FrameRecord[], groups: string[], configNames: string[], trackingMs: Map<string, number[]>): GroupResult[] {
  const out: GroupResult[] = [];
  for (const group of [...groups, "all"]) {
    const rs = group === "all" ? records : records.filter((r) => r.group === group);
    if (rs.length === 0) continue;
    const mp = rs.map((r) => r.mpFound);
    const configs = configNames.map((name, c) => {
      const rel = summarize(rs.flatMap((r) => (r.ours[c].rel === null ? [] : [r.ours[c].rel!])));
      const agreement = agreementRate(rs.map((r) => r.ours[c].found), mp);
      return { name, faces: rs.filter((r) => r.ours[c].found).length, agreement, rel, pass: judge(rel, agreement) };
    });
    const legacyRs = rs.filter((r) => r.legacy !== null);
    const tracking = group === "all" ? [...trackingMs.values()].flat() : trackingMs.get(group) ?? [];
    out.push({
      group,
      frames: rs.length,
      mpFaces: mp.filter(Boolean).length,
      configs,
      legacy: legacyRs.length
        ? { rel: summarize(legacyRs.flatMap((r) => (r.legacy!.rel === null ? [] : [r.legacy!.rel]))), faces: legacyRs.filter((r) => r.legacy!.found).length }
        : null,
      mpMs: summarize(rs.map((r) => r.mpMs)),
      mpTrackingMs: tracking.length ? summarize(tracking) : null,
    });
  }
  return out;
}

function parityTable(results: GroupResult[], c: number, withLegacy: boolean): string {
  const head = ["group", "frames", "MP faces", "our faces", "agree", "median", "p95", "max", "target"];
  if (withLegacy) head.push("legacy median", "legacy p95");
  const lines = [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`];
  for (const g of results) {
    const k = g.configs[c];
    const row = [g.group === "all" ? "**all**" : g.group, String(g.frames), String(g.mpFaces), String(k.faces), pct(k.agreement), pct3(k.rel.median), pct3(k.rel.p95), pct3(k.rel.max), k.pass ? "ok" : "**MISSED**"];
    if (withLegacy) row.push(pct(g.legacy?.rel.median ?? NaN), pct(g.legacy?.rel.p95 ?? NaN));
    lines.push(`| ${row.join(" | ")} |`);
  }
  return lines.join("\n");
}

function timingTable(results: GroupResult[]): string {
  const f = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? "n/a" : v.toFixed(1));
  const lines = ["| group | MP static ms median | p95 | MP tracking ms median | p95 |", "|---|---|---|---|---|"];
  for (const g of results) lines.push(`| ${g.group} | ${f(g.mpMs.median)} | ${f(g.mpMs.p95)} | ${f(g.mpTrackingMs?.median)} | ${f(g.mpTrackingMs?.p95)} |`);
  return lines.join("\n");
}

interface GtSummary {
  set: string;
  method: string;
  images: number;
  matched: number;
  nme68: Summary;
  nme51: Summary;
  /** NME51 over the images every method matched (a fair comparison). */
  commonNme51: Summary;
}

function gtSummaries(records: GtRecord[], methods: string[]): GtSummary[] {
  const out: GtSummary[] = [];
  const sets = [...new Set(records.map((r) => r.set)), "all"];
  for (const set of sets) {
    const rs = set === "all" ? records : records.filter((r) => r.set === set);
    const common = rs.filter((r) => methods.every((m) => r.nme[m]));
    for (const m of methods) {
      const hit = rs.flatMap((r) => (r.nme[m] ? [r.nme[m]!] : []));
      out.push({
        set,
        method: m,
        images: rs.length,
        matched: hit.length,
        nme68: summarize(hit.map((h) => h.all)),
        nme51: summarize(hit.map((h) => h.inner)),
        commonNme51: summarize(common.map((r) => r.nme[m]!.inner)),
      });
    }
  }
  return out;
}

function gtTable(rows: GtSummary[]): string {
  const lines = [
    "| set | method | found/images | NME68 mean | NME68 median | NME51 mean | NME51 median | NME51 mean, common subset (n) |",
    "|---|---|---|---|---|---|---|---|",
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.set} | ${r.method} | ${r.matched}/${r.images} | ${pct(r.nme68.mean)} | ${pct(r.nme68.median)} | ${pct(r.nme51.mean)} | ${pct(r.nme51.median)} | ${pct(r.commonNme51.mean)} (${r.commonNme51.n}) |`,
    );
  }
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const cli = parseCli(process.argv.slice(2));
  let specs = await parityInputs();
  if (cli.only) specs = specs.filter((s) => `${s.dataset}/${s.name}`.includes(cli.only!));
  if (specs.length === 0) throw new Error(`--only ${cli.only}: no input matches`);
  let code = 0;
  if (cli.static) code = Math.max(code, await staticParity(cli, specs));
  if (cli.video) code = Math.max(code, await videoParity(specs.filter((s) => s.kind === "video"), cli.refine));
  return code;
}

/** Our video mode against MediaPipe's, per video: prints a table, writes .cache/parity/video.json; 1 when a target is missed. */
async function videoParity(specs: InputSpec[], refine: boolean): Promise<number> {
  if (specs.length === 0) return 0;
  const refs = await mediapipeReferences(specs, "none", { refine });
  const mesh = await FaceMesh.create({ refineLandmarks: refine });
  const rows: Array<{ group: string; summary: ParitySummary; pass: boolean }> = [];
  try {
    for (const [k, s] of specs.entries()) {
      const ref = refs[k];
      const hash = new PixelHash();
      async function* hashed(): AsyncGenerator<RgbImage> {
        for await (const img of decodeInput(s.file)) {
          hash.add(img);
          yield img;
        }
      }
      const { rows: ours, count } = await videoModeRows(mesh, hashed());
      if (count !== ref.frames.length) throw new Error(`${s.file}: decoded ${count} frames, MediaPipe's video-mode reference has ${ref.frames.length}`);
      if (hash.digest() !== ref.pixelsSha256) throw new Error(`${s.file}: decoded pixels differ from those MediaPipe saw; rerun mediapipe_reference.js --force --mode none${refine ? " --refine" : ""} --only ${s.dataset}/${s.name}`);
      const summary = summarizeParity(ref.frames.map((f, i) => compareFrame(ours, i, f.landmarks, f.width, f.height, mesh.pointsPerFace)));
      const irisOk = !summary.iris || summary.iris.n === 0 || summary.iris.median <= TARGETS.median;
      rows.push({ group: groupOf(s), summary, pass: judge(summary.rel, summary.agreement) && irisOk });
      process.stderr.write(`video mode ${groupOf(s)}: ${count} frames\n`);
    }
  } finally {
    await mesh.dispose();
  }
  const lines = [
    `### Parity with MediaPipe (video mode: no bbox stream, tracking${refine ? "; refine_landmarks, 478 points" : ""})`,
    "",
    `Our video mode against MediaPipe's (its harness's warm-up calls on frame 0 fed first, as it did); targets: median <= ${pct(TARGETS.median)}, p95 <= ${pct(TARGETS.p95)}, agreement >= ${pct(TARGETS.agreement)}${refine ? `, iris centres (468, 473) median <= ${pct(TARGETS.median)}` : ""}.`,
    "",
    `| video | frames | MP faces | our faces | agree | median | p95 | max |${refine ? " iris median | iris p95 |" : ""} target |`,
    `|---|---|---|---|---|---|---|---|${refine ? "---|---|" : ""}---|`,
    ...rows.map(
      (r) =>
        `| ${r.group} | ${r.summary.frames} | ${r.summary.mpFaces} | ${r.summary.ourFaces} | ${pct(r.summary.agreement)} | ${pct3(r.summary.rel.median)} | ${pct3(r.summary.rel.p95)} | ${pct3(r.summary.rel.max)} |${refine ? ` ${pct3(r.summary.iris?.median ?? NaN)} | ${pct3(r.summary.iris?.p95 ?? NaN)} |` : ""} ${r.pass ? "ok" : "**MISSED**"} |`,
    ),
    "",
  ];
  console.log(lines.join("\n"));
  const file = path.join(path.dirname(resultsFile(false)), `video${refine ? "_refine" : ""}.json`);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, JSON.stringify({ date: new Date().toISOString(), targets: TARGETS, videos: rows }, (_k, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? null : v)));
  const missed = rows.filter((r) => !r.pass).map((r) => r.group);
  if (missed.length) console.error(`video-mode parity targets missed: ${missed.join(", ")}`);
  return missed.length ? 1 : 0;
}

async function staticParity(cli: Cli, specs: InputSpec[]): Promise<number> {
  const refs = await mediapipeReferences(specs, "flush", { refine: cli.refine });
  const tracking = new Map<string, number[]>();
  for (const s of specs.filter((x) => x.kind === "video")) {
    const r = await cachedReference(s, "none", { refine: cli.refine });
    if (r) tracking.set(groupOf(s), r.frames.map((f) => f.ms));
  }

  const gtFile = path.join(SHARED_DATA, "gt68.json");
  const mappingFile = path.join(SHARED_DATA, "mapping/mp468_to_68.json");
  const gt = JSON.parse(await readFile(gtFile, "utf8")) as GtFile;
  const mapping = parseMesh68Mapping(JSON.parse(await readFile(mappingFile, "utf8")), mappingFile);

  const pipelines = await Promise.all(
    cli.halfPixel.map((halfPixel) => FaceMesh.create({ ...(halfPixel === undefined ? {} : { halfPixel }), refineLandmarks: cli.refine })),
  );
  /** --refine: iris centre distances / IOD of the first configuration (468 and 473 of each compared frame). */
  const iris: number[] = [];
  const configNames = cli.halfPixel.map(configName);
  const legacy = cli.legacy ? await LegacyRecipe.create() : null;
  const methods = [...configNames, "MediaPipe", ...(legacy ? ["legacy"] : [])];

  const records: FrameRecord[] = [];
  const gtRecords: GtRecord[] = [];
  try {
    for (const [k, s] of specs.entries()) {
      const ref: MpReference = refs[k];
      const group = groupOf(s);
      const input = path.relative(SHARED_DATA, s.file);
      const annotated = s.kind === "image" ? gtFaces(gt, s) : null;
      const hash = new PixelHash();
      let j = 0;
      for await (const img of decodeInput(s.file)) {
        hash.add(img);
        const mpf = ref.frames[j];
        if (!mpf) throw new Error(`${s.file}: more frames decoded than MediaPipe's reference has (${ref.frames.length}); rerun mediapipe_reference.js --force`);
        if (mpf.width !== img.width || mpf.height !== img.height) throw new Error(`${s.file} frame ${j}: ${img.width}x${img.height}, MediaPipe saw ${mpf.width}x${mpf.height}`);
        const mp = mpf.landmarks;
        const ours: Array<FaceLandmarks | null> = [];
        for (const fm of pipelines) ours.push(await fm.estimateStatic(img));
        const legacyResult = legacy ? await runLegacy(legacy, pipelines[0], img) : null;
        if (cli.refine && ours[0] && mp) iris.push(pointDistance(ours[0].points, mp, 468, img.width, img.height), pointDistance(ours[0].points, mp, 473, img.width, img.height));
        records.push({
          group,
          input,
          frame: j,
          mpFound: mp !== null,
          mpMs: mpf.ms,
          ours: ours.map((o) => ({ found: o !== null, score: o?.score ?? null, rel: o && mp ? meshDistance(o.points, mp, img.width, img.height).relative : null })),
          legacy: legacy
            ? { found: legacyResult !== null, conf: legacyResult?.conf ?? null, rel: legacyResult && mp ? meshDistance(legacyResult.points, mp, img.width, img.height).relative : null }
            : null,
        });
        if (annotated) {
          const nme: GtRecord["nme"] = {};
          ours.forEach((o, c) => (nme[configNames[c]] = evaluateGt(o?.points ?? null, annotated.faces, mapping, img.width, img.height)));
          nme.MediaPipe = evaluateGt(mp, annotated.faces, mapping, img.width, img.height);
          if (legacy) nme.legacy = evaluateGt(legacyResult?.points ?? null, annotated.faces, mapping, img.width, img.height);
          gtRecords.push({ set: annotated.set, image: input, nme });
        }
        j++;
      }
      if (j !== ref.frames.length) throw new Error(`${s.file}: decoded ${j} frames, MediaPipe's reference has ${ref.frames.length}; rerun mediapipe_reference.js --force`);
      if (hash.digest() !== ref.pixelsSha256) {
        throw new Error(`${s.file}: decoded pixels differ from those MediaPipe saw (decoder changed?); rerun node dist/scripts/mediapipe_reference.js --force --only ${s.dataset}/${s.name}`);
      }
      process.stderr.write(`${group} ${s.name}: ${j} frames\n`);
    }
  } finally {
    for (const fm of pipelines) await fm.dispose();
    await legacy?.dispose();
  }

  const groups = [...new Set(specs.map(groupOf))];
  const results = groupResults(records, groups, configNames, tracking);
  const gtRows = gtSummaries(gtRecords, methods);

  const out: string[] = [];
  configNames.forEach((name, c) => {
    out.push(`### Parity with MediaPipe (static mode): ${name}${c === 0 ? "" : " (informational)"}`, "");
    out.push(`Per-frame mean landmark distance / MediaPipe's inter-ocular distance; targets: median <= ${pct(TARGETS.median)}, p95 <= ${pct(TARGETS.p95)}, agreement >= ${pct(TARGETS.agreement)}.`, "");
    out.push(parityTable(results, c, legacy !== null && c === 0), "");
    if (legacy && c === 0) {
      out.push("legacy = the original Python module's recipe (scripts/legacy_recipe.ts) on our detector's box and the same ONNX weights, its v/127-1 input defect reproduced.", "");
    }
  });
  const irisSummary = cli.refine ? summarize(iris) : null;
  if (irisSummary) {
    out.push(`### Iris centres (468, 473), ${configNames[0]}: distance / IOD median ${pct3(irisSummary.median)}, p95 ${pct3(irisSummary.p95)}, max ${pct3(irisSummary.max)} over ${irisSummary.n} points (target: median <= 0.5%)`, "");
  }
  out.push("### 68-point ground truth (NME, IOD = outer eye corners 36-45)", "", gtTable(gtRows), "");
  out.push("### MediaPipe's own time per frame (ms, Chromium WASM, CPU inference)", "", timingTable(results), "");
  console.log(out.join("\n"));

  const RESULTS_FILE = resultsFile(cli.refine);
  await mkdir(path.dirname(RESULTS_FILE), { recursive: true });
  await writeFileAtomic(
    RESULTS_FILE,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        targets: TARGETS,
        configs: cli.halfPixel.map((h, c) => ({ name: configNames[c], halfPixel: h ?? "default" })),
        refine: cli.refine,
        iris: irisSummary,
        mediapipe: refs[0]?.harness ?? null,
        groups: results,
        groundTruth: gtRows,
        groundTruthPerImage: gtRecords,
        frames: records,
      },
      (_k, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? null : v),
    ),
  );
  console.error(`wrote ${path.relative(process.cwd(), RESULTS_FILE)}`);

  const missed = results.filter((g) => !g.configs[0].pass).map((g) => g.group);
  if (irisSummary && !(irisSummary.median <= 0.005)) missed.push("iris centres");
  if (missed.length) {
    console.error(`parity targets missed (${configNames[0]}): ${missed.join(", ")}`);
    return 1;
  }
  return 0;
}

/** The legacy recipe on the most confident detection's NOVA box (what the blazeface stream would carry); null without a detection. */
async function runLegacy(legacy: LegacyRecipe, fm: FaceMesh, img: RgbImage): Promise<{ points: Float32Array; conf: number } | null> {
  const [detections] = await fm.detect([img]);
  if (detections.length === 0) return null;
  return legacy.run(img, novaBoxFromDetection(detections[0], img.width, img.height));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (!existsSync(SHARED_DATA)) {
    console.error(`${SHARED_DATA} is absent: parity needs the shared test data`);
    process.exit(2);
  }
  main().then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(2);
    },
  );
}
