#!/usr/bin/python3
"""Reads a PNG (8-bit RGB/RGBA, non-interlaced, as chromium writes them) with zlib and struct only,
and prints facts a test can assert on:
  size W H
  colours N            distinct colours in the image
  match X              pixels of the given colour (within +-TOL per channel) in rows Y0..Y1
  rows R0 R1           first and last row holding that colour
usage: png_check.py FILE RRGGBB Y0 Y1 [TOL]"""
import struct
import sys
import zlib


def read_png(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise SystemExit("not a PNG")
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or ctype not in (2, 6) or interlace:
                raise SystemExit(f"unsupported PNG: depth {depth} type {ctype} interlace {interlace}")
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pr) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


def main():
    path, colour, y0, y1 = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    tol = int(sys.argv[5]) if len(sys.argv) > 5 else 3
    want = tuple(int(colour[i:i + 2], 16) for i in (0, 2, 4))
    w, h, bpp, rows = read_png(path)
    colours, match, first, last = set(), 0, -1, -1
    for y, line in enumerate(rows):
        for x in range(w):
            px = tuple(line[x * bpp:x * bpp + 3])
            colours.add(px)
            if all(abs(px[i] - want[i]) <= tol for i in range(3)):
                if y0 <= y <= y1:
                    match += 1
                first = y if first < 0 else first
                last = y
    print(f"size {w} {h}")
    print(f"colours {len(colours)}")
    print(f"match {match}")
    print(f"rows {first} {last}")


main()
