/**
 * IEEE 754 binary16 -> float32, for the float16 weight buffers that MediaPipe's models turn into float32 with
 * DEQUANTIZE ops. Every binary16 value (subnormals, infinities, NaN included) is exactly representable in float32.
 */

/** Decodes one binary16 bit pattern. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24; // zero and subnormals: fraction * 2^-14 / 1024
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** Decodes a little-endian binary16 buffer (TFLite buffers are little-endian by definition). */
export function decodeFloat16(bytes: Uint8Array): Float32Array {
  if (bytes.length % 2 !== 0) throw new Error(`float16 buffer of odd length ${bytes.length}`);
  const out = new Float32Array(bytes.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = halfToFloat(bytes[2 * i] | (bytes[2 * i + 1] << 8));
  return out;
}
