/**
 * A minimal streaming ZIP writer (stored entries, no compression) for /fetch_result when a job has more than one
 * result file (an SSI stream is two files: `x.stream` and `x.stream~`). Files are streamed twice (CRC first, then
 * the data), so memory stays flat whatever their size. Format: PKWARE APPNOTE 6.3, sections 4.3.7 (local header),
 * 4.3.12 (central directory) and 4.3.16 (end record); bit 11 marks UTF-8 names.
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import type { Writable } from "node:stream";
import { crc32 } from "node:zlib";

export interface ZipSource {
  /** Name inside the archive. */
  name: string;
  file: string;
}

const MAX_32 = 0xffffffff;

async function fileCrc(file: string): Promise<number> {
  let crc = 0;
  for await (const chunk of createReadStream(file)) crc = crc32(chunk as Buffer, crc);
  return crc;
}

function dosDateTime(d: Date): { time: number; date: number } {
  return {
    time: (d.getHours() << 11) | (d.getMinutes() << 5) | Math.floor(d.getSeconds() / 2),
    date: ((d.getFullYear() - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate(),
  };
}

function write(out: Writable, buf: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    out.write(buf, (err) => (err ? reject(err) : resolve()));
  });
}

async function copy(out: Writable, file: string): Promise<void> {
  for await (const chunk of createReadStream(file)) await write(out, chunk as Buffer);
}

/** Writes a zip of `sources` to `out` (does not end it). Files must be < 4 GiB each and in total. */
export async function writeZip(out: Writable, sources: ZipSource[]): Promise<void> {
  const central: Buffer[] = [];
  let offset = 0;
  for (const src of sources) {
    const st = await stat(src.file);
    if (st.size > MAX_32 || offset > MAX_32) throw new Error(`${src.file}: too large for a zip without ZIP64`);
    const crc = await fileCrc(src.file);
    const name = Buffer.from(src.name, "utf8");
    const { time, date } = dosDateTime(st.mtime);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed: 2.0
    local.writeUInt16LE(0x0800, 6); // flags: UTF-8 names
    local.writeUInt16LE(0, 8); // method: stored
    local.writeUInt16LE(time, 10);
    local.writeUInt16LE(date, 12);
    local.writeUInt32LE(crc >>> 0, 14);
    local.writeUInt32LE(st.size, 18);
    local.writeUInt32LE(st.size, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    await write(out, local);
    await write(out, name);
    await copy(out, src.file);
    const entry = Buffer.alloc(46);
    entry.writeUInt32LE(0x02014b50, 0);
    entry.writeUInt16LE(0x0314, 4); // made by: UNIX, 2.0
    entry.writeUInt16LE(20, 6);
    entry.writeUInt16LE(0x0800, 8);
    entry.writeUInt16LE(0, 10);
    entry.writeUInt16LE(time, 12);
    entry.writeUInt16LE(date, 14);
    entry.writeUInt32LE(crc >>> 0, 16);
    entry.writeUInt32LE(st.size, 20);
    entry.writeUInt32LE(st.size, 24);
    entry.writeUInt16LE(name.length, 28);
    entry.writeUInt32LE(((0o100644 << 16) >>> 0), 38); // external attributes: regular file, rw-r--r--
    entry.writeUInt32LE(offset, 42);
    central.push(entry, name);
    offset += local.length + name.length + st.size;
  }
  const dir = Buffer.concat(central);
  if (offset > MAX_32) throw new Error("zip too large without ZIP64");
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(sources.length, 8);
  end.writeUInt16LE(sources.length, 10);
  end.writeUInt32LE(dir.length, 12);
  end.writeUInt32LE(offset, 16);
  await write(out, dir);
  await write(out, end);
}
