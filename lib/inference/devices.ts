/**
 * Device names and the --device syntax, apart from session.ts so that parsing a command line does not load
 * onnxruntime's native library.
 */
export type Device = "cpu" | "cuda" | "webgpu";
export const DEVICES: readonly Device[] = ["cpu", "cuda", "webgpu"];

/** Parses "cpu", "cuda,cpu", "auto" (= cuda,webgpu,cpu). */
export function parseDevices(spec: string): Device[] {
  const text = spec.trim().toLowerCase();
  if (text === "auto") return ["cuda", "webgpu", "cpu"];
  const list = text.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  if (list.length === 0) throw new Error(`device: empty value (use one of ${DEVICES.join(", ")}, a list like "cuda,cpu", or "auto")`);
  for (const d of list) {
    if (!(DEVICES as readonly string[]).includes(d)) {
      throw new Error(`device: unknown device '${d}' (use one of ${DEVICES.join(", ")}, a list like "cuda,cpu", or "auto")`);
    }
  }
  return list as Device[];
}
