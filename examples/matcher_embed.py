"""The matching engine embedded from Python (docs/matching.md, "Embedding").

The same scenario as examples/matcher_embed.c, printing the same lines: a
matcher without the rolling hash and LEVEL events, one instrument, two
batches applied with `apply_indexed` so that each command's events are
printed under it, and the depth at a price after each batch.

    python examples/matcher_embed.py
"""

from __future__ import annotations

import numpy as np

from wirematch.pipeline.native import matcher as mt

INSTRUMENT = 1
NAMES = {code: name.upper() for code, name in mt.EV_NAMES.items()}


def limit(session: int, cid: int, side: int, price: int, qty: int, tif: int) -> np.ndarray:
    return mt.cmd(
        type=mt.CMD_NEW,
        session=session,
        account=session,
        client_id=cid,
        instrument=INSTRUMENT,
        side=side,
        ord_type=mt.LIMIT,
        tif=tif,
        price=price,
        qty=qty,
    )


def cancel(session: int, cid: int) -> np.ndarray:
    return mt.cmd(type=mt.CMD_CANCEL, session=session, client_id=cid, instrument=INSTRUMENT)


def describe(ev: np.void) -> str:
    name = NAMES[int(ev["type"])]
    if name == "EXECUTED":
        role = "maker" if int(ev["flags"]) & 4 else "taker"  # WM_EVF_MAKER
        return f"{name}({role} {ev['qty']} @ {ev['price']}, trade {ev['aux']})"
    if name in ("CANCELLED", "BOOKED"):
        return f"{name}({ev['qty']})"
    if name == "REJECTED":
        return f"{name}(reason {ev['aux']})"
    return name


def run_batch(m: mt.Matcher, cmds: np.ndarray, first: int) -> None:
    events, ends = m.apply_indexed(cmds, events_cap=mt.MIN_EVENTS + 4)
    for k in range(len(cmds)):
        line = " ".join(describe(ev) for ev in events[ends[k] : ends[k + 1]])
        print(f"cmd {first + k}: {line}")


def print_depth(m: mt.Matcher, side: int, price: int) -> None:
    qty, orders = m.depth_at(INSTRUMENT, side, price)
    name = "buy" if side == mt.BUY else "sell"
    print(f"depth {name} {price}: rc 0, qty {qty}, orders {orders}")


def main() -> None:
    m = mt.Matcher(
        max_instruments=4, max_orders=1024, max_sessions=16, hashing=False, level_events=False
    )
    m.add_instrument(
        mt.InstrumentRules(id=INSTRUMENT, ref_price=100, max_levels=256, max_order_qty=1_000_000)
    )
    first = mt.concat_commands(
        [
            limit(1, 1, mt.SELL, 100, 5, mt.DAY),
            limit(1, 2, mt.SELL, 101, 3, mt.DAY),
            limit(2, 1, mt.BUY, 101, 7, mt.IOC),  # takes 5 @ 100, 2 @ 101
        ]
    )
    second = mt.concat_commands([cancel(1, 2), cancel(1, 9)])  # the 1 left; no such order
    run_batch(m, first, 0)
    print_depth(m, mt.SELL, 100)
    print_depth(m, mt.SELL, 101)
    run_batch(m, second, 3)
    print_depth(m, mt.SELL, 101)
    print(f"live orders {m.live_orders}, hash {m.hash}")
    m.close()


if __name__ == "__main__":
    main()
