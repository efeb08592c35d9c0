#!/usr/bin/env python3
"""Reads SSI streams the way discover-utils does, for test/ssi_discover.test.ts.

discover-utils parses the header with xml.etree, takes the dtype from the info element's type and byte, reads
the data file in one block with np.fromfile (np.loadtxt for ASCII) and reshapes it to (sum of chunk num, dim).

Usage: discover_reader.py OUT_DIR HEADER [HEADER ...]
For each header i it writes OUT_DIR/<i>.bin (the array's bytes, little-endian) and prints one JSON line:
{"shape": [rows, dim], "dtype": "<f4", "sr": 25.0, "meta": {...}}.
Exit code 3 when numpy is missing (the test skips then).
"""
import json
import os
import sys
import xml.etree.ElementTree as ET

try:
    import numpy as np
except ImportError:  # pragma: no cover
    print("numpy is not installed", file=sys.stderr)
    sys.exit(3)

KIND = {
    "CHAR": "i", "UCHAR": "u", "SHORT": "i", "USHORT": "u", "INT": "i", "UINT": "u",
    "LONG": "i", "ULONG": "u", "FLOAT": "f", "DOUBLE": "f", "BOOL": "b",
}


def dtype_of(ssi_type, byte):
    kind = KIND[ssi_type]
    if kind == "b":
        return np.dtype(np.bool_) if byte == 1 else np.dtype("<u%d" % byte)
    return np.dtype("<%s%d" % (kind, byte))


def read(header_path):
    root = ET.parse(header_path).getroot()
    if int(root.get("ssi-v")) < 2:
        raise ValueError("unsupported ssi-v")
    info = root.find("info")
    ftype = info.get("ftype")
    sr = float(info.get("sr"))
    dim = int(info.get("dim"))
    byte = int(info.get("byte"))
    dtype = dtype_of(info.get("type"), byte)
    meta = root.find("meta")
    num = sum(int(c.get("num")) for c in root.findall("chunk"))
    data_path = header_path + "~"
    if ftype == "BINARY":
        data = np.fromfile(data_path, dtype=dtype)
    elif ftype == "ASCII":
        delim = info.get("delim") or " "
        load_as = np.int64 if dtype.kind == "b" else dtype
        if dtype.kind in "iu" and dtype.itemsize == 8:
            # loadtxt goes through float64 for some integer widths; parse exactly.
            with open(data_path) as f:
                rows = [l.split(None if delim.strip() == "" else delim) for l in f if l.strip()]
            data = np.array([[int(v) for v in r] for r in rows], dtype=dtype)
        else:
            data = np.loadtxt(data_path, dtype=load_as, delimiter=None if delim.strip() == "" else delim, ndmin=2)
        data = data.astype(dtype)
    else:
        raise ValueError("unsupported ftype " + ftype)
    data = data.reshape((num, dim))
    return data, sr, dict(meta.attrib) if meta is not None else {}


def main():
    out_dir = sys.argv[1]
    for i, header in enumerate(sys.argv[2:]):
        data, sr, meta = read(header)
        with open(os.path.join(out_dir, "%d.bin" % i), "wb") as f:
            f.write(np.ascontiguousarray(data).astype(data.dtype.newbyteorder("<")).tobytes())
        print(json.dumps({"shape": list(data.shape), "dtype": data.dtype.str, "sr": sr, "meta": meta}))


if __name__ == "__main__":
    main()
