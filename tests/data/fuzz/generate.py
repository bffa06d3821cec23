#!/usr/bin/env python3
"""Writes the seed corpus for fuzzing kcl's loaders (kcl_load_npy, kcl_load_idx,
kcl_load_csv) and kernel cache entries (cache/, for tests/fuzz/fuzz_cache.c): a
few tiny valid files (valid_*) and invalid ones (bad_*) per format. Standard library only; gzip with mtime 0 so reruns are byte-identical.
tests/test_io.c checks that every valid_* file loads and every bad_* file is
refused with KCL_ERR_FORMAT. Run from anywhere: python3 generate.py"""
import gzip
import io
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def write(sub, name, data):
    os.makedirs(os.path.join(HERE, sub), exist_ok=True)
    with open(os.path.join(HERE, sub, name), "wb") as f:
        f.write(data)


def npy(header, data, major=1):
    """A .npy file as numpy writes it: header padded to a 64-byte boundary."""
    text = header.encode("latin1")
    pre = 10 if major == 1 else 12
    padded = (pre + len(text) + 1 + 63) // 64 * 64 - pre
    text = text + b" " * (padded - len(text) - 1) + b"\n"
    size = struct.pack("<H" if major == 1 else "<I", len(text))
    return b"\x93NUMPY" + bytes([major, 0]) + size + text + data


def gz(data):
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as f:
        f.write(data)
    return out.getvalue()


def idx(code, dims, data):
    return bytes([0, 0, code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + data


# The key tests/fuzz/fuzz_cache.c reads entries under (keep the two equal).
CACHE_KEY = (b"kcl-cache 1\nplatform Fuzz\ndevice fuzz-cpu\ndriver 1.0\nprogram gemm\n"
             b"source 0123456789abcdef\noptions -cl-std=CL1.2\n")


def cache_entry(key, binary):
    """lib/cache.c's layout, host byte order (little-endian here): magic, key
    length, binary length, CRC-32 of key and binary, key, binary."""
    crc = zlib.crc32(key + binary) & 0xFFFFFFFF
    return b"KCLBIN01" + struct.pack("<IQI", len(key), len(binary), crc) + key + binary


def main():
    d = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }"
    write("npy", "valid_f4_2x3.npy",
          npy(d % ("<f4", "False", "(2, 3)"), struct.pack("<6f", 0, 1.5, -2, 3, 4.25, 5)))
    write("npy", "valid_u1_scalar_v2.npy", npy(d % ("|u1", "False", "()"), b"\x07", major=2))
    write("npy", "valid_be_i2_v3.npy",
          npy(d % (">i2", "False", "(3,)"), struct.pack(">3h", -1, 300, 7), major=3))
    write("npy", "valid_empty_f8.npy", npy(d % ("<f8", "False", "(0, 4)"), b""))
    write("npy", "bad_fortran.npy", npy(d % ("<f4", "True", "(2, 2)"), bytes(16)))
    write("npy", "bad_truncated_header.npy", npy(d % ("<f4", "False", "(2,)"), bytes(8))[:30])
    write("npy", "bad_huge_shape.npy", npy(d % ("<f4", "False", "(1099511627776, 1024)"), bytes(8)))
    write("npy", "bad_descr.npy", npy(d % ("<c8", "False", "(1,)"), bytes(8)))

    write("idx", "valid_u8_3x2x2.idx", idx(0x08, [3, 2, 2], bytes(range(12))))
    write("idx", "valid_f4_2x2.idx.gz", gz(idx(0x0D, [2, 2], struct.pack(">4f", 1, -2, 0.5, 8))))
    write("idx", "valid_i2_3.idx", idx(0x0B, [3], struct.pack(">3h", -5, 0, 1000)))
    write("idx", "bad_magic.idx", b"\x01\x00\x08\x01\x00\x00\x00\x01\x05")
    write("idx", "bad_type.idx", b"\x00\x00\x0a\x01\x00\x00\x00\x01\x05")
    write("idx", "bad_truncated.idx.gz", gz(idx(0x08, [4, 4], bytes(10))))
    write("idx", "bad_huge_dims.idx", idx(0x08, [0xFFFFFFFF] * 4, b"\x00"))

    write("csv", "valid_basic.csv", b"1,2,3\n4,5,6\n")
    write("csv", "valid_crlf.csv", b"0.5,-1e3\r\n2,nan\r\n")
    write("csv", "valid_blank_lines.csv", b"\n7\n\n8\n9")
    write("csv", "bad_ragged.csv", b"1,2\n3\n")
    write("csv", "bad_text.csv", b"1,2\n3,four\n")
    write("csv", "bad_empty_field.csv", b"1,,3\n")
    # 0xFF, then an options byte (fuzz_csv.c): ';' as delimiter, one header row;
    # neither valid_ nor bad_, so test_io.c (default options) leaves it alone.
    write("csv", "options_semicolon.csv", b"\xff\x0aa;b\n1;2\n3;4\n")

    binary = b"\x7fELF" + bytes(range(28))
    write("cache", "valid_entry.entry", cache_entry(CACHE_KEY, binary))
    write("cache", "bad_crc.entry", cache_entry(CACHE_KEY, binary)[:-1] + b"\x00")
    write("cache", "bad_stale_key.entry", cache_entry(CACHE_KEY.replace(b"1.0", b"2.0"), binary))
    write("cache", "bad_truncated.entry", cache_entry(CACHE_KEY, binary)[:40])


if __name__ == "__main__":
    main()
