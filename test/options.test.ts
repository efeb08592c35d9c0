/**
 * lib/nova/options.ts: options as requests send them (JSON `options`, `optStr`, strings, numbers, booleans),
 * resolved over facemesh.trainer's defaults; every rule has a case that breaks it.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { defaultOptions, MAX_BATCH_SIZE, parseOptionsJson, parseOptStr, resolveOptions } from "../lib/nova/options.js";
import { parseTrainer, readTrainer, type Trainer } from "../lib/nova/trainer.js";

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const trainer = await readTrainer(path.join(projectRoot, "facemesh.trainer"));

function trainerWith(optstr: string): Trainer {
  return parseTrainer(`<trainer ssi-v="5"><meta backend="nova-server"/><model create="FaceMesh" script="facemesh.ts" optstr="${optstr}"/></trainer>`, "other.trainer");
}

test("defaults are facemesh.trainer's", () => {
  assert.deepEqual(resolveOptions(trainer, {}), {
    options: { min_score_thresh: 0.5, batch_size: 50, device: "cpu", no_face: "zeros", tracking: true, smoothing: "none", refine_landmarks: false, segment_seconds: 300 },
    warnings: [],
  });
  // The trainer is the only source: other declared defaults change the result.
  const other = trainerWith("{min_score_thresh:STRING:0.25};{batch_size:STRING:8};{device:LIST:cuda,cpu};{no_face:LIST:nan,zeros};{tracking:BOOL:False};{smoothing:LIST:one_euro,none};{refine_landmarks:BOOL:True};{segment_seconds:STRING:0}");
  assert.deepEqual(defaultOptions(other), { min_score_thresh: 0.25, batch_size: 8, device: "cuda", no_face: "nan", tracking: false, smoothing: "one_euro", refine_landmarks: true, segment_seconds: 0 });
});

test("values as NOVA's JSON options send them (numbers, booleans)", () => {
  const raw = parseOptionsJson('{"min_score_thresh": 0.7, "batch_size": 250, "device": "cuda", "no_face": "nan", "tracking": false, "refine_landmarks": true}');
  assert.deepEqual(resolveOptions(trainer, raw).options, { min_score_thresh: 0.7, batch_size: 250, device: "cuda", no_face: "nan", tracking: false, smoothing: "none", refine_landmarks: true, segment_seconds: 300 });
});

test("values as optStr sends them (all text), in NOVA's spellings", () => {
  const raw = parseOptStr("min_score_thresh=0.3; batch_size = 16;device=WebGPU;no_face=NaN;tracking=False;");
  assert.deepEqual(raw, { min_score_thresh: "0.3", batch_size: "16", device: "WebGPU", no_face: "NaN", tracking: "False" });
  assert.deepEqual(resolveOptions(trainer, raw).options, { min_score_thresh: 0.3, batch_size: 16, device: "webgpu", no_face: "nan", tracking: false, smoothing: "none", refine_landmarks: false, segment_seconds: 300 });
  assert.deepEqual(parseOptStr(""), {});
  assert.deepEqual(parseOptStr("a=b=c"), { a: "b=c" });
  assert.throws(() => parseOptStr("batch_size"), /optStr: "batch_size" is not key=value/);
  assert.throws(() => parseOptStr("=5"), /optStr: "=5" has no key/);
});

test("mixed forms: strings for numbers, 1/0 and true/false for booleans, null as not given", () => {
  const r = resolveOptions(trainer, { min_score_thresh: " 1 ", batch_size: "5e1", tracking: "1", device: null });
  assert.deepEqual(r.options, { min_score_thresh: 1, batch_size: 50, device: "cpu", no_face: "zeros", tracking: true, smoothing: "none", refine_landmarks: false, segment_seconds: 300 });
  assert.equal(resolveOptions(trainer, { tracking: 0 }).options.tracking, false);
  assert.equal(resolveOptions(trainer, { tracking: "true" }).options.tracking, true);
  assert.equal(resolveOptions(trainer, { min_score_thresh: 0 }).options.min_score_thresh, 0);
  assert.equal(resolveOptions(trainer, { batch_size: MAX_BATCH_SIZE }).options.batch_size, MAX_BATCH_SIZE);
  assert.equal(resolveOptions(trainer, { batch_size: "1" }).options.batch_size, 1);
});

test("smoothing: none by default, one_euro as JSON, optStr or CLI text sends it", () => {
  assert.equal(resolveOptions(trainer, {}).options.smoothing, "none");
  assert.equal(resolveOptions(trainer, parseOptionsJson('{"smoothing": "one_euro"}')).options.smoothing, "one_euro");
  assert.equal(resolveOptions(trainer, parseOptStr("smoothing = One_Euro")).options.smoothing, "one_euro");
  assert.equal(resolveOptions(trainer, { smoothing: "NONE" }).options.smoothing, "none");
});

test("unknown keys are warnings, not errors", () => {
  const r = resolveOptions(trainer, { batch_size: 10, model: "front", repeat_last: true });
  assert.equal(r.options.batch_size, 10);
  assert.equal(r.warnings.length, 2);
  assert.match(r.warnings[0], /unknown option "model" ignored/);
  assert.match(r.warnings[1], /unknown option "repeat_last" ignored/);
});

test("each invalid value is refused with the option, the value and the rule", () => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ batch_size: 0 }, /^option batch_size=0: must be a whole number from 1 to 4096$/],
    [{ batch_size: -5 }, /^option batch_size=-5: must be a whole number/],
    [{ batch_size: "2.5" }, /^option batch_size="2\.5": must be a whole number/],
    [{ batch_size: 4097 }, /^option batch_size=4097: must be a whole number from 1 to 4096$/],
    [{ batch_size: "many" }, /^option batch_size="many": must be a number$/],
    [{ batch_size: "" }, /^option batch_size="": must be a number$/],
    [{ batch_size: true }, /^option batch_size=true: must be a number$/],
    [{ min_score_thresh: 1.5 }, /^option min_score_thresh=1\.5: must be between 0 and 1$/],
    [{ min_score_thresh: "-0.1" }, /^option min_score_thresh="-0\.1": must be between 0 and 1$/],
    [{ min_score_thresh: "NaN" }, /^option min_score_thresh="NaN": must be a number$/],
    [{ device: "tpu" }, /^option device="tpu": must be one of cpu, cuda, webgpu$/],
    [{ device: 1 }, /^option device=1: must be one of cpu, cuda, webgpu$/],
    [{ no_face: "ones" }, /^option no_face="ones": must be one of zeros, nan$/],
    [{ tracking: "maybe" }, /^option tracking="maybe": must be a boolean/],
    [{ tracking: 2 }, /^option tracking=2: must be a boolean/],
    [{ smoothing: "kalman" }, /^option smoothing="kalman": must be one of none, one_euro$/],
    [{ smoothing: true }, /^option smoothing=true: must be one of none, one_euro$/],
    [{ segment_seconds: -2 }, /^option segment_seconds=-2: must be a number of seconds from 0 \(0: never split\)$/],
    [{ segment_seconds: "Infinity" }, /^option segment_seconds="Infinity": must be a number of seconds from 0/],
  ];
  for (const [raw, pattern] of cases) {
    assert.throws(() => resolveOptions(trainer, raw), (e: Error) => pattern.test(e.message), `${JSON.stringify(raw)} should fail with ${pattern}`);
  }
});

test("a trainer that lacks an option or lists a device this code cannot run is refused, naming the trainer", () => {
  assert.throws(() => resolveOptions(trainerWith("{batch_size:STRING:50}"), {}), /other\.trainer: the trainer does not declare option "min_score_thresh"/);
  const tpu = trainerWith("{min_score_thresh:STRING:0.5};{batch_size:STRING:50};{device:LIST:tpu,cpu};{no_face:LIST:zeros,nan};{tracking:BOOL:True};{smoothing:LIST:none,one_euro};{refine_landmarks:BOOL:False};{segment_seconds:STRING:300}");
  assert.throws(() => defaultOptions(tpu), /option device="tpu": is declared in the trainer but not supported by this code/);
  assert.equal(resolveOptions(tpu, { device: "cpu" }).options.device, "cpu");
});

test("parseOptionsJson accepts only a JSON object", () => {
  assert.deepEqual(parseOptionsJson('{"batch_size":"50"}'), { batch_size: "50" });
  assert.throws(() => parseOptionsJson("[1,2]"), /options: expected a JSON object/);
  assert.throws(() => parseOptionsJson("null"), /options: expected a JSON object/);
  assert.throws(() => parseOptionsJson("{batch_size:50}"), /options: not valid JSON/);
});
