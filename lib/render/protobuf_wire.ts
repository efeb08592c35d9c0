/**
 * A minimal reader of the protobuf wire format (varint, 64-bit, length-delimited, 32-bit fields), enough to pull
 * a few known fields out of a message without generated code. Unknown fields are skipped, as protobuf requires.
 */

export enum WireType {
  Varint = 0,
  Fixed64 = 1,
  LengthDelimited = 2,
  Fixed32 = 5,
}

export interface WireField {
  field: number;
  wireType: WireType;
  /** Varint value (as a number; values above 2^53 lose precision, none of ours are that large). */
  varint?: number;
  /** Payload of a length-delimited, 32-bit or 64-bit field. */
  bytes?: Uint8Array;
}

export class ProtoReader {
  private pos = 0;

  constructor(
    private readonly buf: Uint8Array,
    private readonly what: string,
  ) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  private fail(problem: string): never {
    throw new Error(`${this.what}: malformed protobuf at byte ${this.pos}: ${problem}`);
  }

  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) this.fail("varint runs past the end");
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result;
      scale *= 128;
    }
    this.fail("varint longer than 10 bytes");
  }

  private take(n: number): Uint8Array {
    if (n < 0 || this.pos + n > this.buf.length) this.fail(`field of ${n} bytes runs past the end (${this.buf.length} bytes)`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  next(): WireField {
    const key = this.varint();
    const field = Math.floor(key / 8);
    const wireType = key & 7;
    if (field === 0) this.fail("field number 0");
    switch (wireType) {
      case WireType.Varint:
        return { field, wireType, varint: this.varint() };
      case WireType.Fixed64:
        return { field, wireType, bytes: this.take(8) };
      case WireType.LengthDelimited:
        return { field, wireType, bytes: this.take(this.varint()) };
      case WireType.Fixed32:
        return { field, wireType, bytes: this.take(4) };
      default:
        this.fail(`unsupported wire type ${wireType} (field ${field})`);
    }
  }
}

/** Appends the values of a repeated uint32 field, packed (one length-delimited blob) or not (one varint each). */
export function readRepeatedVarint(f: WireField, into: number[], what: string): void {
  if (f.wireType === WireType.Varint) into.push(f.varint!);
  else if (f.wireType === WireType.LengthDelimited) {
    const r = new ProtoReader(f.bytes!, what);
    while (!r.done) into.push(r.varint());
  } else throw new Error(`${what}: field ${f.field} has wire type ${f.wireType}, expected varint values`);
}

/** Appends the values of a repeated float field, packed or not (little-endian IEEE 754 single precision). */
export function readRepeatedFloat(f: WireField, into: number[], what: string): void {
  const bytes = f.bytes;
  if (!bytes || !(f.wireType === WireType.Fixed32 || f.wireType === WireType.LengthDelimited) || bytes.length % 4 !== 0) {
    throw new Error(`${what}: field ${f.field} has wire type ${f.wireType}, expected float values`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < bytes.length; i += 4) into.push(view.getFloat32(i, true));
}
