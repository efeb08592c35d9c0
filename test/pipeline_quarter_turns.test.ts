/**
 * Faces at any quarter turn (issue 12, beyond MediaPipe): a talking head stored sideways or upside down (a phone
 * that dropped its rotation metadata) must give the landmarks of the upright video, mapped through the turn.
 * The turned clips are made here with ffmpeg from a shared talking head, losslessly in RGB (libx264rgb -qp 0),
 * and the upright clip the same way without the turn: the turned frames are the upright pixels moved, so the
 * truth is exact. The clip is cropped to a non-square frame so that an x/y mix-up cannot pass.
 *
 * Both the video mode (no bbox stream: the detector at the other quarter turns when upright finds nothing) and
 * the bbox mode (the upright boxes mapped through the turn; the first rotation of the track from the detector in
 * the region around the box) are checked against: median <= 0.5%, p95 <= 2% of the inter-ocular distance,
 * face agreement >= 98%. Measured (liveportrait/d0, 78 frames, 512x432): see the diagnostics.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test, type TestContext } from "node:test";
import { tempDir, ffmpeg } from "./support/media.js";
import { decodeAll, formatSummary, readStreamFile, row, rowHasFace, runCli, sharedFile, summarize, writeHandBboxStream, type StreamFile } from "./support/facemesh_harness.js";

const W = 512;
const H = 432;

/** A turn as ffmpeg's filter, and where it takes a normalized point of the upright frame. */
const TURNS = {
  clockwise: { filter: "transpose=1", map: (x: number, y: number): [number, number] => [1 - y, x] },
  counterclockwise: { filter: "transpose=2", map: (x: number, y: number): [number, number] => [y, 1 - x] },
  upside_down: { filter: "hflip,vflip", map: (x: number, y: number): [number, number] => [1 - x, 1 - y] },
} as const;
type TurnName = keyof typeof TURNS;

/** Mean distance between a turned row and the upright row mapped through the turn, over the upright IOD (pixels). */
function turnedDistance(turned: ArrayLike<number>, upright: ArrayLike<number>, map: (x: number, y: number) => [number, number], tw: number, th: number): number {
  const pt = (r: ArrayLike<number>, i: number): [number, number] => [r[2 * i + 1]!, r[2 * i]!];
  let sum = 0;
  for (let i = 0; i < 468; i++) {
    const [ux, uy] = map(...pt(upright, i));
    const [x, y] = pt(turned, i);
    sum += Math.hypot((x - ux) * tw, (y - uy) * th);
  }
  const [ax, ay] = pt(upright, 33);
  const [bx, by] = pt(upright, 263);
  return sum / 468 / Math.hypot((ax - bx) * W, (ay - by) * H);
}

describe("quarter-turned talking heads (liveportrait/d0)", () => {
  const source = sharedFile("liveportrait/d0.mp4");
  let dir = "";
  let cleanup = async () => {};
  const clips = new Map<TurnName | "upright", string>();
  let uprightBoxes: StreamFile;

  before(async () => {
    if (!source) return;
    ({ dir, cleanup } = await tempDir("facemesh-turns-"));
    for (const [name, filter] of [["upright", ""], ...Object.entries(TURNS).map(([n, t]) => [n, t.filter])] as Array<[TurnName | "upright", string]>) {
      const file = path.join(dir, `${name}.mkv`);
      await ffmpeg(["-i", source, "-vf", `format=rgb24,crop=${W}:${H}:0:40${filter ? `,${filter}` : ""}`, "-c:v", "libx264rgb", "-qp", "0", "-preset", "ultrafast", file]);
      clips.set(name, file);
    }
    const bbox = path.join(dir, "upright.bbox.stream");
    assert.equal((await runCli(["detect", clips.get("upright")!, "--out", bbox])).code, 0);
    uprightBoxes = await readStreamFile(bbox);
  });
  after(() => cleanup());

  function skip(t: TestContext): boolean {
    if (source) return false;
    t.skip("../shared/data absent: liveportrait/d0.mp4 needed");
    return true;
  }

  /** The upright boxes mapped through a turn (corners mapped, min/max taken), as a bbox stream for the turned clip. */
  async function turnedBoxes(name: TurnName): Promise<string> {
    const rows: number[][] = [];
    for (let i = 0; i < uprightBoxes.rows; i++) {
      const [ymin, xmin, ymax, xmax, conf] = row(uprightBoxes, i);
      const a = TURNS[name].map(xmin!, ymin!);
      const b = TURNS[name].map(xmax!, ymax!);
      rows.push([Math.min(a[1], b[1]), Math.min(a[0], b[0]), Math.max(a[1], b[1]), Math.max(a[0], b[0]), conf!]);
    }
    const swapped = name !== "upside_down";
    return writeHandBboxStream(path.join(dir, `${name}.bbox.stream`), rows, { fps: 25, width: swapped ? H : W, height: swapped ? W : H });
  }

  async function rowsOf(name: TurnName | "upright", bbox: string | null): Promise<StreamFile> {
    const out = path.join(dir, `${name}.${bbox ? "bbox" : "video"}-mode.landmarks.stream`);
    const r = await runCli(["run", clips.get(name)!, "--out", out, ...(bbox ? ["--bbox", bbox] : [])]);
    assert.equal(r.code, 0, r.stderr);
    return readStreamFile(out);
  }

  for (const mode of ["video", "bbox"] as const) {
    test(`${mode} mode: sideways and upside-down clips give the upright landmarks mapped through the turn`, async (t) => {
      if (skip(t)) return;
      const upright = await rowsOf("upright", mode === "bbox" ? path.join(dir, "upright.bbox.stream") : null);
      const uprightFaces = Array.from({ length: upright.rows }, (_, i) => rowHasFace(row(upright, i)));
      assert.ok(uprightFaces.filter(Boolean).length >= 0.98 * upright.rows, "the upright clip has a face in almost every frame");
      for (const name of Object.keys(TURNS) as TurnName[]) {
        const turned = await rowsOf(name, mode === "bbox" ? await turnedBoxes(name) : null);
        assert.equal(turned.rows, upright.rows);
        const tw = name === "upside_down" ? W : H;
        const th = name === "upside_down" ? H : W;
        let same = 0;
        const d: number[] = [];
        for (let i = 0; i < upright.rows; i++) {
          const found = rowHasFace(row(turned, i));
          if (found === uprightFaces[i]) same++;
          if (found && uprightFaces[i]) d.push(turnedDistance(row(turned, i), row(upright, i), TURNS[name].map, tw, th));
        }
        const s = summarize(d);
        const agreement = same / upright.rows;
        t.diagnostic(`${formatSummary(`${mode} mode, ${name}`, s)}, agreement ${(agreement * 100).toFixed(1)}%`);
        assert.ok(agreement >= 0.98, `${name}: agreement ${(agreement * 100).toFixed(1)}%`);
        assert.ok(s.median <= 0.005, `${name}: median ${(s.median * 100).toFixed(3)}%`);
        assert.ok(s.p95 <= 0.02, `${name}: p95 ${(s.p95 * 100).toFixed(3)}%`);
      }
    });
  }
});
