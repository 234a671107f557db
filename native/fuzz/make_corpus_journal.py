"""Write the saved seed corpus of fuzz_journal (native/fuzz/corpus/fuzz_journal/).

Each seed is a flags byte (fuzz_journal.c says what the bits mean) and a small
journal file image in the format of native/include/wirematch/journal.h:
a clean file, one with a zero tail, a torn last record, a hole before intact
records, a bad sequence and trailing bytes.  Standalone (its own CRC32C), run
from anywhere: python3 native/fuzz/make_corpus_journal.py
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus" / "fuzz_journal"
MAGIC = 0x314E524A4D4D5757


def _table() -> list[int]:
    out = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        out.append(c)
    return out


TABLE = _table()


def crc32c(data: bytes) -> int:
    c = 0xFFFFFFFF
    for b in data:
        c = TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def file_header(first_seq: int, size: int) -> bytes:
    body = struct.pack("<QIIQQQI16x", MAGIC, 1, 64, first_seq, 1_700_000_000_000_000_000, size, 8)
    return body + struct.pack("<I", crc32c(body))


def record(seq: int, rtype: int, payload: bytes) -> bytes:
    pad = b"\0" * (-len(payload) % 8)
    rest = struct.pack("<IQHHI", len(payload), seq, rtype, 0, 0) + payload + pad
    return struct.pack("<I", crc32c(rest)) + rest


def image(first_seq: int, records: list[bytes], size: int) -> bytes:
    body = b"".join(records)
    img = file_header(first_seq, size) + body
    return img + b"\0" * (size - len(img))


def save(flags: int, img: bytes) -> None:
    data = bytes([flags]) + img
    CORPUS.mkdir(parents=True, exist_ok=True)
    (CORPUS / hashlib.sha1(data).hexdigest()).write_bytes(data)


def main() -> None:
    recs = [record(5 + i, 1 + i % 4, bytes(range(i * 3 % 40))) for i in range(12)]
    clean = image(5, recs, 1024)
    for flags in (0, 1, 3, 5, 7):
        save(flags, clean)
    save(7, image(1, [], 256))
    torn = bytearray(clean)
    end = 64 + sum(len(r) for r in recs)
    torn[end - 12 : end - 8] = b"\0\0\0\0"  # payload bytes of the last record
    save(1, bytes(torn))
    save(5, bytes(torn))
    hole = bytearray(clean)
    at = 64 + sum(len(r) for r in recs[:6])
    hole[at : at + 24] = b"\0" * 24
    save(5, bytes(hole))
    bad_seq = image(5, recs[:4] + [record(99, 1, b"x")] + recs[4:], 1024)
    save(7, bad_seq)
    trailing = bytearray(clean)
    trailing[1000] = 0x5A
    save(5, bytes(trailing))


if __name__ == "__main__":
    main()
