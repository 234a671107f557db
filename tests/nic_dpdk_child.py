"""One DPDK process for tests/test_nic_dpdk.py (DPDK initialises once per
process and spawns threads: each test case gets a process of its own).

    python -m tests.nic_dpdk_child '{"dpdk": {...}, "device": "...", "mode": "rx", ...}'

Prints one JSON line when the queue is open ({"ready": ..., "info", "eal"}),
then one with what it received (UDP payloads to "port", in order, as hex)
and the statistics.  Modes: "rx" (receive "count" packets), "echo" (also
send each back with addresses swapped), "conflict" (open a second queue
with other EAL arguments and report the error).  Always bounded by
"timeout" seconds.
"""

from __future__ import annotations

import json
import sys
import time

from tests.nic_frames import parse_udp, reply_frame
from wirematch.nic.dpdk import DpdkConfig, eal_args
from wirematch.nic.queue import NicError, open_queue


def main() -> int:
    spec = json.loads(sys.argv[1])
    cfg = DpdkConfig.from_mapping(spec["dpdk"])
    argv = eal_args(cfg)
    q = open_queue("dpdk", eal=argv, device=spec.get("device"), **spec.get("queue", {}))
    print(json.dumps({"ready": True, "info": q.info(), "eal": argv}), flush=True)
    out: dict = {}
    if spec["mode"] == "conflict":
        other = eal_args(DpdkConfig.from_mapping({**spec["dpdk"], "memory_mb": 128}))
        try:
            open_queue("dpdk", eal=other, device=spec.get("device"))
            out["error"] = None
        except NicError as exc:
            out["error"] = str(exc)
        try:
            open_queue("dpdk", device=spec.get("device"))  # same process, no arguments: EAL reused
            out["second"] = None
        except NicError as exc:
            out["second"] = str(exc)
    else:
        want, port = spec["count"], spec["port"]
        payloads, others = [], 0
        end = time.monotonic() + spec.get("timeout", 10)
        while len(payloads) < want and time.monotonic() < end:
            pkts = q.recv(64, timeout=0.05)
            replies = []
            for p in pkts:
                u = parse_udp(p.data)
                if u is None or u.dst[1] != port:
                    others += 1  # e.g. frames the host itself sent (AF_PACKET sees both ways)
                    continue
                payloads.append(u.payload.hex())
                if spec["mode"] == "echo":
                    replies.append(reply_frame(p.data, u.payload[::-1]))
            sent = 0
            while sent < len(replies):
                sent += q.send(replies[sent:])
        q.flush()
        out = {"payloads": payloads, "others": others}
    out["stats"] = q.stats()
    out["xstats"] = {k: v for k, v in q.xstats().items() if v}
    q.close()
    out["stats_after_close"] = q.stats()
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
