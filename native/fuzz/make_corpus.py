"""Write the saved seed corpus of the libFuzzer targets (native/fuzz/corpus/).

One valid message of every type (the samples of tests/test_codec_scapy.py,
encoded by the C encoders) per decoder, and MoldUDP64 packets carrying them
(plus a heartbeat and an end of session) for fuzz_mold.  Run from the
worktree root after `make build`: .venv/bin/python native/fuzz/make_corpus.py
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import test_codec_scapy as samples  # noqa: E402

from wirematch.pipeline.protocols import codec  # noqa: E402

CORPUS = ROOT / "native" / "fuzz" / "corpus"


def save(target: str, data: bytes) -> None:
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)


def main() -> None:
    ts = samples.TS
    ouch_in = [codec.encode_ouch_in(t, **f) for t, f in samples.OUCH_IN.items()]
    ouch_out = [codec.encode_ouch_out(t, ts, **f) for t, f in samples.OUCH_OUT.items()]
    itch = [
        codec.encode_itch(t, stock_locate=1, timestamp=ts, **f) for t, f in samples.ITCH.items()
    ]
    for m in ouch_in:
        save("fuzz_ouch_in", m)
    for m in ouch_out:
        save("fuzz_ouch_out", m)
    for m in itch:
        save("fuzz_itch", m)
    save("fuzz_mold", codec.mold_pack("CLIENT01", 1, ouch_in))
    save("fuzz_mold", codec.mold_pack("CLIENT01", 7, ouch_in[:2]))
    save("fuzz_mold", codec.mold_pack("CLIENT01", 3, []))
    end = codec.mold_pack("CLIENT01", 9, [])
    save("fuzz_mold", end[:18] + b"\xff\xff")
    save("fuzz_mold", codec.mold_pack("MDFEED", 1, itch))
    # A retransmission request for the history fuzz_mold holds (stream FUZZFEED).
    save("fuzz_mold", codec.mold_pack("FUZZFEED", 250, [])[:18] + (5).to_bytes(2, "big"))
    gateway_seeds()
    soup_seeds(ouch_in)


def _soup(ptype: str, payload: bytes = b"") -> bytes:
    return (len(payload) + 1).to_bytes(2, "big") + ptype.encode() + payload


def _soup_login(user: str, password: str, session: str, seq: int, hb_ms: int | None) -> bytes:
    body = f"{user:<6}{password:<10}{session:<10}{seq:>20}".encode()
    if hb_ms is not None:
        body += f"{hb_ms:>5}".encode()
    return _soup("L", body)


def soup_seeds(ouch_in: list[bytes]) -> None:
    """fuzz_soup: byte 0 = side (bit 0: 1 server's stream) and chunking
    seed, then a SoupBinTCP stream.  Its session state machine has user
    "user", password "pass", session "S1"."""
    client = 0x00
    server = 0x01
    login = _soup_login("user", "pass", "", 1, None)
    login4 = _soup_login("user", "pass", "S1", 0, 15000)
    data = b"".join(_soup("U", m) for m in ouch_in)
    save("fuzz_soup", bytes([client]) + login + data + _soup("R") + _soup("O"))
    save("fuzz_soup", bytes([client | 0x2A]) + login4 + _soup("+", b"hi") + data)
    save("fuzz_soup", bytes([client]) + _soup_login("user", "bad", "", 1, None))
    save("fuzz_soup", bytes([client]) + _soup("U", ouch_in[0]) + login)
    accepted = _soup("A", f"{'S1':<10}{7:>20}".encode())
    msgs = b"".join(_soup("S", m) for m in ouch_in[:3])
    save("fuzz_soup", bytes([server]) + accepted + msgs + _soup("H") + _soup("Z"))
    save("fuzz_soup", bytes([server | 0x10]) + _soup("J", b"A"))


def _record(session: int, msg: bytes) -> bytes:
    return bytes([session, len(msg)]) + msg


def gateway_seeds() -> None:
    """fuzz_gateway: records {session, length, OUCH message} for its
    instruments WMT (tick 100, in the matcher) and ZVZZT (not in it)."""

    def enter(ref: int, side: str, qty: int, price: int, symbol: str = "WMT") -> bytes:
        return codec.encode_ouch_in(
            "O",
            user_ref_num=ref,
            side=side,
            quantity=qty,
            symbol=symbol,
            price=price,
            time_in_force="0",
            display="Y",
            capacity="A",
            iso="N",
            cross_type="N",
            cl_ord_id=f"F{ref}",
        )

    replace = codec.encode_ouch_in(
        "U",
        orig_user_ref_num=2,
        user_ref_num=3,
        quantity=50,
        price=1_000_100,
        time_in_force="0",
        display="Y",
        iso="N",
        cl_ord_id="F3",
    )
    session = [
        _record(0, enter(1, "B", 100, 1_000_000)),
        _record(0, enter(2, "B", 200, 999_900)),
        _record(1, enter(1, "S", 150, 1_000_000)),
        _record(0, replace),
        _record(0, codec.encode_ouch_in("X", user_ref_num=3, quantity=20)),
        _record(1, enter(2, "S", 10, 1_000_050)),
        _record(1, enter(3, "S", 10, 1_000_000, symbol="ZVZZT")),
        _record(1, codec.encode_ouch_in("C", user_ref_num=4, firm="F", symbol="")),
        _record(0, codec.encode_ouch_in("X", user_ref_num=3, quantity=0)),
        _record(0, codec.encode_ouch_in("Q")),
    ]
    save("fuzz_gateway", b"".join(session))
    for rec in session:
        save("fuzz_gateway", rec)


if __name__ == "__main__":
    main()
