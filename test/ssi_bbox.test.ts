/**
 * lib/ssi/bbox.ts: blazeface's bbox/keypoint streams and the per-row classification. Streams under test are
 * written by hand (literal headers, Buffer.writeFloatLE) so the reader is not checked against itself.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import {
  BBOX_MEDIA_TYPE,
  classifyBox,
  createBboxStreamWriter,
  createKeypointStreamWriter,
  detectionToBboxRow,
  detectionToKeypointRow,
  KEYPOINT_MEDIA_TYPE,
  noFaceRow,
  parseSize,
  readBboxStream,
  readKeypointStream,
} from "../lib/ssi/bbox.js";
import type { Detection } from "../lib/types.js";

const dir = mkdtempSync(path.join(tmpdir(), "ssi-bbox-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let counter = 0;

function handWritten(dim: number, values: number[], meta: string, type = "FLOAT", byte = 4): string {
  const file = path.join(dir, `hand${counter++}.stream`);
  const rows = values.length / dim;
  writeFileSync(file, `<?xml version="1.0" ?>
<stream ssi-v="2">
    <info ftype="BINARY" sr="25.000" dim="${dim}" byte="${byte}" type="${type}" delim=" " />
    ${meta}
    <chunk from="0.000" to="${(rows / 25).toFixed(3)}" byte="0" num="${rows}" />
</stream>
`);
  const data = Buffer.alloc(values.length * byte);
  values.forEach((v, i) => (byte === 4 ? data.writeFloatLE(v, i * 4) : data.writeDoubleLE(v, i * 8)));
  writeFileSync(file + "~", data);
  return file;
}

test("classifyBox: usable boxes are ok, whatever the confidence above 0 and even partly outside the frame", () => {
  assert.equal(classifyBox([0.2, 0.3, 0.6, 0.7, 0.9]), "ok");
  assert.equal(classifyBox([0.2, 0.3, 0.6, 0.7, 0.01]), "ok", "a low confidence is the pipeline's call");
  assert.equal(classifyBox([0, 0, 1, 1, 0.8]), "ok", "the whole frame, with a face");
  assert.equal(classifyBox([-0.1, -0.2, 0.3, 0.2, 1]), "ok", "overhanging the top-left corner");
  assert.equal(classifyBox([0.8, 0.9, 1.3, 1.2, 0.7]), "ok", "overhanging the bottom-right corner");
  assert.equal(classifyBox(Float32Array.of(0.2, 0.3, 0.6, 0.7, 0.9)), "ok", "a Float32Array row");
});

test("classifyBox: confidence 0 is no_face, in each form blazeface writes it", () => {
  assert.equal(classifyBox([0, 0, 0, 0, 0]), "no_face", "all zeros");
  assert.equal(classifyBox([0, 0, 1, 1, 0]), "no_face", "before the first face");
  assert.equal(classifyBox([0.2, 0.3, 0.6, 0.7, 0]), "no_face", "previous box repeated with confidence 0");
  assert.equal(classifyBox([0.6, 0.7, 0.2, 0.3, 0]), "no_face", "conf 0 wins over a bad box");
});

test("classifyBox: rows no crop can come from are invalid", () => {
  for (const bad of [NaN, Infinity, -Infinity]) {
    for (let k = 0; k < 5; k++) {
      const row = [0.2, 0.3, 0.6, 0.7, 0.9];
      row[k] = bad;
      assert.equal(classifyBox(row), "invalid", `${bad} at ${k}`);
    }
  }
  assert.equal(classifyBox([0.6, 0.3, 0.2, 0.7, 0.9]), "invalid", "ymin > ymax");
  assert.equal(classifyBox([0.2, 0.7, 0.6, 0.3, 0.9]), "invalid", "xmin > xmax");
  assert.equal(classifyBox([0.2, 0.3, 0.2, 0.7, 0.9]), "invalid", "zero height");
  assert.equal(classifyBox([0.2, 0.3, 0.6, 0.3, 0.9]), "invalid", "zero width");
  assert.equal(classifyBox([0, 0, 0, 0, 0.9]), "invalid", "all-zero box with a confidence");
  assert.equal(classifyBox([1.1, 0.3, 1.5, 0.7, 0.9]), "invalid", "below the frame");
  assert.equal(classifyBox([-0.5, 0.3, -0.1, 0.7, 0.9]), "invalid", "above the frame");
  assert.equal(classifyBox([0.2, 1, 0.6, 1.4, 0.9]), "invalid", "right of the frame (touching its edge)");
  assert.equal(classifyBox([0.2, -0.4, 0.6, 0, 0.9]), "invalid", "left of the frame (touching its edge)");
  assert.equal(classifyBox([0.2, 0.3, 0.6, 0.7, -0.1]), "invalid", "negative confidence");
  assert.equal(classifyBox([0.2, 0.3, 0.6, 0.7, 1.5]), "invalid", "confidence above 1");
  assert.equal(classifyBox([0.2, 0.3, 0.6]), "invalid", "short row");
  // Sub-pixel boxes: 0.001 of 640 px is 0.64 px wide; of 2000 px it is 2 px.
  const tiny = [0.2, 0.3, 0.21, 0.301, 0.9];
  assert.equal(classifyBox(tiny), "ok", "without a frame size only zero is degenerate");
  assert.equal(classifyBox(tiny, { width: 640, height: 360 }), "invalid");
  assert.equal(classifyBox(tiny, { width: 2000, height: 2000 }), "ok");
});

test("readBboxStream reads blazeface's layout, including size and DOUBLE data", async () => {
  const rows = [0.1, 0.2, 0.5, 0.6, 0.9, 0.1, 0.2, 0.5, 0.6, 0];
  const file = handWritten(5, rows, `<meta type="feature;face;boundingbox;blazeface" size="640:360" />`);
  const s = await readBboxStream(file);
  assert.equal(s.rows, 2);
  assert.equal(s.sr, 25);
  assert.deepEqual(s.size, { width: 640, height: 360 });
  assert.deepEqual([...s.data], rows.map(Math.fround));
  assert.equal(classifyBox(s.data.subarray(5, 10)), "no_face");

  const d = await readBboxStream(handWritten(5, rows, "", "DOUBLE", 8));
  assert.ok(d.data instanceof Float32Array);
  assert.deepEqual([...d.data], rows.map(Math.fround));
  assert.equal(d.size, undefined);
  // Other face-box producers: the specific part after "feature;face;boundingbox" may differ.
  const other = await readBboxStream(handWritten(5, rows, `<meta type="Feature;Face;BoundingBox;other" />`));
  assert.equal(other.rows, 2);
});

test("readBboxStream / readKeypointStream refuse the wrong dims or media type, naming the file", async () => {
  const six = handWritten(6, new Array(12).fill(0.5), `<meta type="feature;face;boundingbox;blazeface" />`);
  await assert.rejects(readBboxStream(six), (e: Error) => e.message.includes(six) && /5 dims per frame, this one has dim=6/.test(e.message));
  const landmarks = handWritten(5, new Array(10).fill(0.5), `<meta type="feature;face;landmarks;facemesh" />`);
  await assert.rejects(readBboxStream(landmarks), (e: Error) =>
    e.message.includes(landmarks) && /meta type is "feature;face;landmarks;facemesh"/.test(e.message));
  const bboxAsKeypoints = handWritten(13, new Array(13).fill(0.5), `<meta type="feature;face;boundingbox;blazeface" />`);
  await assert.rejects(readKeypointStream(bboxAsKeypoints), (e: Error) => e.message.includes(bboxAsKeypoints) && /not a face keypoint stream/.test(e.message));
  const five = handWritten(5, new Array(5).fill(0.5), `<meta type="feature;face;landmarks;blazeface" />`);
  await assert.rejects(readKeypointStream(five), /13 dims per frame, this one has dim=5/);
  const ints = path.join(dir, "ints.stream");
  writeFileSync(ints, `<stream ssi-v="2"><info ftype="BINARY" sr="25" dim="5" byte="4" type="INT"/><chunk from="0" to="0.04" byte="0" num="1"/></stream>`);
  writeFileSync(ints + "~", Buffer.alloc(20));
  await assert.rejects(readBboxStream(ints), /holds FLOAT values, this one holds INT/);
});

const detection: Detection = {
  score: 0.875,
  xmin: 0.25,
  ymin: 0.125,
  width: 0.5,
  height: 0.375,
  keypoints: [[0.375, 0.25], [0.625, 0.25], [0.5, 0.375], [0.5, 0.4375], [0.25, 0.3125], [0.75, 0.3125]],
};

test("detection rows follow blazeface's column order (y before x)", () => {
  assert.deepEqual([...detectionToBboxRow(detection)], [0.125, 0.25, 0.5, 0.75, 0.875]);
  assert.deepEqual([...detectionToKeypointRow(detection)], [0.25, 0.375, 0.25, 0.625, 0.375, 0.5, 0.4375, 0.5, 0.3125, 0.25, 0.3125, 0.75, 0.875]);
  const out = new Float32Array(10);
  detectionToBboxRow(detection, out, 5);
  assert.deepEqual([...out], [0, 0, 0, 0, 0, 0.125, 0.25, 0.5, 0.75, 0.875]);
  assert.deepEqual([...noFaceRow(null)], [0, 0, 1, 1, 0]);
  assert.deepEqual([...noFaceRow([0.1, 0.2, 0.3, 0.4, 0.9].map(Math.fround))], [0.1, 0.2, 0.3, 0.4, 0].map(Math.fround));
  assert.deepEqual([...noFaceRow(null, 13)], new Array(13).fill(0));
});

test("bbox and keypoint writers emit blazeface's header and data, readable by our readers", async () => {
  const bboxFile = path.join(dir, "written_bbox.stream");
  const w = await createBboxStreamWriter(bboxFile, { sr: 25, width: 640, height: 360 });
  await w.append(detectionToBboxRow(detection));
  await w.append(noFaceRow(detectionToBboxRow(detection)));
  await w.commit();
  const header = readFileSync(bboxFile, "utf8");
  assert.match(header, /<info ftype="BINARY" sr="25\.000" dim="5" byte="4" type="FLOAT" delim=" " \/>/);
  assert.match(header, new RegExp(`<meta type="${BBOX_MEDIA_TYPE}" size="640:360" />`));
  const expected = Buffer.alloc(40);
  [0.125, 0.25, 0.5, 0.75, 0.875, 0.125, 0.25, 0.5, 0.75, 0].forEach((v, i) => expected.writeFloatLE(v, i * 4));
  assert.deepEqual(readFileSync(bboxFile + "~"), expected);
  const back = await readBboxStream(bboxFile);
  assert.deepEqual(back.size, { width: 640, height: 360 });
  assert.deepEqual([classifyBox(back.data.subarray(0, 5)), classifyBox(back.data.subarray(5, 10))], ["ok", "no_face"]);

  const kpFile = path.join(dir, "written_kp.stream");
  const k = await createKeypointStreamWriter(kpFile, { sr: 25, width: 640, height: 360 });
  await k.append(detectionToKeypointRow(detection));
  await k.commit();
  assert.match(readFileSync(kpFile, "utf8"), new RegExp(`<meta type="${KEYPOINT_MEDIA_TYPE}" size="640:360" />`));
  assert.deepEqual([...(await readKeypointStream(kpFile)).data], [...detectionToKeypointRow(detection)]);
  await assert.rejects(createBboxStreamWriter(path.join(dir, "x.stream"), { sr: 25, width: 0, height: 360 }), /frame size 0x360/);
});

test("parseSize reads W:H and nothing else", () => {
  assert.deepEqual(parseSize("640:360"), { width: 640, height: 360 });
  assert.deepEqual(parseSize(" 1920 : 1080 "), { width: 1920, height: 1080 });
  assert.equal(parseSize("640x360"), undefined);
  assert.equal(parseSize("0:360"), undefined);
  assert.equal(parseSize(undefined), undefined);
});
