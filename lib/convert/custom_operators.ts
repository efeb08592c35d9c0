/**
 * TFLite CUSTOM operators: MediaPipe's three of the attention model, checked here and emitted as plain ONNX by
 * mediapipe_ops.ts.
 */
import {
  emitLandmarks2TransformMatrix,
  emitTransformLandmarks,
  emitTransformTensorBilinear,
  parseLandmarks2TransformMatrixOptions,
  parseTransformTensorBilinearOptions,
  readFlexbufferMap,
} from "./mediapipe_ops.js";
import { rank4, type OperatorContext } from "./operator_context.js";
import type { TfliteOperator } from "./tflite_reader.js";

/** MediaPipe's custom operators of the attention model (mediapipe_ops.ts), version 2 only. */
export function custom(c: OperatorContext, op: TfliteOperator): void {
  const code = op.customCode ?? "";
  // mediapipe_ops.ts prefixes its errors with `what`; the prefix is stripped again so c.fail names the operator once.
  const what = `CUSTOM(${code})`;
  const known = ["Landmarks2TransformMatrix", "TransformTensorBilinear", "TransformLandmarks"];
  if (!known.includes(code)) c.fail(`custom operator ${JSON.stringify(code)} is not supported (known: ${known.join(", ")})`);
  // Version 1 of each operator has other semantics (and options); MediaPipe's 2022 models use version 2.
  if (op.version !== 2) c.fail(`version ${op.version} is not supported (only version 2)`);
  const out = c.outputTensor();
  const guard = <T>(f: () => T): T => {
    try {
      return f();
    } catch (err) {
      return c.fail((err as Error).message.replace(`${what}: `, ""));
    }
  };
  if (code === "Landmarks2TransformMatrix") {
    const x = c.activation(0, "landmarks");
    if (x.shape.length !== 3 || x.shape[0] !== 1 || x.shape[2] !== 3) c.fail(`landmarks of shape [${x.shape}]; expected [1,N,3]`);
    c.checkOutputShape([1, 4, 4]);
    const opts = guard(() => parseLandmarks2TransformMatrixOptions(op.customOptions, what));
    const name = c.fresh(out.name);
    guard(() => emitLandmarks2TransformMatrix(c.emitter(), c.inLayout(x, "native"), x.shape[1], opts, name, what));
    c.setActivation(out, name, "native");
  } else if (code === "TransformTensorBilinear") {
    const x = c.activation(0, "feature map");
    rank4(c, x, "feature map");
    const m = c.activation(1, "matrix");
    if (m.shape.join(",") !== "1,4,4") c.fail(`matrix of shape [${m.shape}]; expected [1,4,4]`);
    const opts = guard(() => parseTransformTensorBilinearOptions(op.customOptions, what));
    c.checkOutputShape([1, opts.outputHeight, opts.outputWidth, x.shape[3]]);
    const name = c.fresh(out.name);
    emitTransformTensorBilinear(c.emitter(), c.inLayout(x, "nchw"), [x.shape[1], x.shape[2]], c.inLayout(m, "native"), opts, name);
    c.setActivation(out, name, "nchw");
  } else {
    const x = c.activation(0, "landmarks");
    const m = c.activation(1, "matrix");
    if (x.shape.length !== 3 || x.shape[0] !== 1 || x.shape[2] !== 2) c.fail(`landmarks of shape [${x.shape}]; expected [1,N,2] (2-D landmarks)`);
    if (m.shape.join(",") !== "1,4,4") c.fail(`matrix of shape [${m.shape}]; expected [1,4,4]`);
    // Version 2 takes its dimensions from the tensor; options, when a writer adds them, must agree.
    if (op.customOptions && op.customOptions.length > 0) {
      const dims = guard(() => readFlexbufferMap(op.customOptions, what)).dimensions;
      if (dims !== undefined && Number(dims) !== 2) c.fail(`option dimensions = ${String(dims)}; only 2 is supported`);
    }
    c.checkOutputShape(x.shape);
    const name = c.fresh(out.name);
    emitTransformLandmarks(c.emitter(), c.inLayout(x, "native"), c.inLayout(m, "native"), name);
    c.setActivation(out, name, "native");
  }
}
