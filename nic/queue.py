"""Open a NIC queue from Python: capability check first, then the C backend.

`open_queue("io_uring", addr="10.199.0.1", port=9000, options=["sqpoll"])`
returns a Queue.  The data plane drives queues from C threads; the Python
methods here (recv/send) copy packets and exist for the control plane and
tests.  Statistics are the queue's counter block, read as a numpy view.
"""

from __future__ import annotations

import atexit
import signal
import socket
import struct
import threading
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from wirematch.nic.caps import NicUnavailable, check_backend
from wirematch.pipeline.native import ffi, lib
from wirematch.pipeline.native.counters import Counters

OPTION_FLAGS: dict[str, int] = {
    "sqpoll": lib.WM_NIC_O_SQPOLL,
    "defer_taskrun": lib.WM_NIC_O_DEFER_TASKRUN,
    "coop_taskrun": lib.WM_NIC_O_COOP_TASKRUN,
    "napi": lib.WM_NIC_O_NAPI,
    "send_zc": lib.WM_NIC_O_SEND_ZC,
    "no_addr": lib.WM_NIC_O_NO_ADDR,
    "pace": lib.WM_NIC_O_PACE,
    "loop": lib.WM_NIC_O_LOOP,
    "l4": lib.WM_NIC_O_L4,
    "busy_poll": lib.WM_NIC_O_BUSY_POLL,
    "xdp_skb": lib.WM_NIC_O_XDP_SKB,
    "xdp_native": lib.WM_NIC_O_XDP_NATIVE,
    "zero_copy": lib.WM_NIC_O_ZERO_COPY,
    "copy": lib.WM_NIC_O_COPY,
    "hugepages": lib.WM_NIC_O_HUGEPAGES,
}
FILL_POLICIES = {"on_release": lib.WM_NIC_FILL_ON_RELEASE, "batched": lib.WM_NIC_FILL_BATCHED}
XDP_MODES = {
    lib.WM_NIC_XDP_NONE: "none",
    lib.WM_NIC_XDP_NATIVE: "native",
    lib.WM_NIC_XDP_SKB: "skb",
    lib.WM_NIC_XDP_HW: "hw",
}


class NicError(Exception):
    """The backend refused to open or failed; str() is the C side's sentence."""


@dataclass(frozen=True)
class Packet:
    data: bytes
    kind: str  # "l4" (UDP payload) or "l2" (Ethernet frame)
    src: tuple[str, int] | None
    dst: tuple[str, int] | None


def _ip(n: int) -> str:
    return socket.inet_ntoa(struct.pack("=I", n))


def _port(n: int) -> int:
    return socket.ntohs(n)


BIND_FLAGS = {2: "copy", 4: "zero_copy", 8: "need_wakeup"}  # XDP_COPY, XDP_ZEROCOPY, ...


def _bind_flags(bits: int) -> list[str]:
    return [name for bit, name in BIND_FLAGS.items() if bits & bit]


def flags_of(options: Iterable[str]) -> int:
    flags = 0
    for name in options:
        if name not in OPTION_FLAGS:
            raise NicUnavailable(f"unknown option {name!r}: choose from {', '.join(OPTION_FLAGS)}")
        flags |= OPTION_FLAGS[name]
    return flags


# Queues that hold kernel or DPDK state beyond the process's file descriptors
# (an XDP program attached to an interface, a started DPDK port): closed at
# exit and on SIGTERM/SIGINT/SIGHUP, so that a stopped appliance leaves no
# program behind.  (A SIGKILL leaves it: the next open replaces it, and
# `wirematch nic detach IFACE` removes it by hand.)
_LIVE: weakref.WeakSet[Queue] = weakref.WeakSet()
_GUARD_LOCK = threading.Lock()
_GUARDED = False
CLEANUP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def close_all() -> None:
    """Close every open AF_XDP/DPDK queue of this process (detaches XDP programs)."""
    for q in list(_LIVE):
        q.close()


def _on_signal(signum: int, frame: object) -> None:
    close_all()
    # Then what the signal would have done: restore the default and re-raise.
    signal.signal(signum, signal.SIG_DFL)
    signal.raise_signal(signum)


def _guard(q: Queue) -> None:
    global _GUARDED
    _LIVE.add(q)
    with _GUARD_LOCK:
        if _GUARDED:
            return
        _GUARDED = True
        atexit.register(close_all)
        if threading.current_thread() is threading.main_thread():
            for sig in CLEANUP_SIGNALS:
                # Only where nobody installed a handler (SIGINT's default raises KeyboardInterrupt,
                # which unwinds through `with` blocks and atexit already).
                if signal.getsignal(sig) is signal.SIG_DFL:
                    signal.signal(sig, _on_signal)


class Queue:
    def __init__(self, backend: str, **kw: Any) -> None:
        options = list(kw.pop("options", ()))
        check_backend(
            backend,
            ifname=kw.get("ifname"),
            port=kw.get("port", 0),
            n_queues=kw.get("n_queues", 1),
            options=options,
            sqpoll_cpu=kw.get("sqpoll_cpu", -1),
            path=kw.get("path"),
            tx_path=kw.get("tx_path"),
        )
        o = ffi.new("struct wm_nic_opts *")
        o.size = ffi.sizeof("struct wm_nic_opts")
        o.flags = flags_of(options)
        o.sqpoll_cpu = kw.pop("sqpoll_cpu", -1)
        self._keep: list[Any] = []
        policy = kw.pop("fill_policy", "on_release")
        if policy not in FILL_POLICIES:
            raise NicUnavailable(f"fill_policy {policy!r}: one of {', '.join(FILL_POLICIES)}")
        o.fill_policy = FILL_POLICIES[policy]
        eal = kw.pop("eal", None)
        if eal is not None:
            from wirematch.nic.dpdk import DpdkConfig, eal_args

            argv = eal_args(eal) if isinstance(eal, DpdkConfig) else [str(a) for a in eal]
            self.eal_argv = argv
            cargs = [ffi.new("char[]", a.encode()) for a in argv]
            arr = ffi.new("const char *[]", cargs)
            self._keep += [cargs, arr]
            o.eal_argc = len(argv)
            o.eal_argv = arr
        for key in ("ifname", "addr", "path", "tx_path", "device"):
            value = kw.pop(key, None)
            if value is not None:
                buf = ffi.new("char[]", str(value).encode())
                self._keep.append(buf)
                setattr(o, key, buf)
        for key, value in kw.items():
            if not hasattr(o, key):
                raise TypeError(f"unknown queue option {key!r}")
            setattr(o, key, value)
        out = ffi.new("struct wm_nic_queue **")
        rc = lib.wm_nic_open(backend.encode(), o, out)
        if rc < 0:
            raise NicError(ffi.string(lib.wm_nic_last_error()).decode())
        self._q = out[0]
        self.backend = backend
        self.burst = o.burst or 32
        self._pkts = ffi.new("struct wm_nic_pkt[]", 256)
        c = lib.wm_nic_counters(self._q)
        self.counters = Counters(c, lib.wm_counters_memsize(c.n), owner=self)
        if backend in ("af_xdp", "dpdk"):
            _guard(self)

    # -- information --
    def info(self) -> dict[str, Any]:
        i = ffi.new("struct wm_nic_info *")
        lib.wm_nic_info(self._q, i)
        names = [n for n, bit in OPTION_FLAGS.items() if i.flags & bit]
        return {
            "backend": ffi.string(i.backend).decode(),
            "mode": ffi.string(i.mode).decode(),
            "zero_copy_rx": bool(i.zero_copy_rx),
            "zero_copy_tx": bool(i.zero_copy_tx),
            "options": names,
            "queue": i.queue,
            "n_queues": i.n_queues,
            "n_buffers": i.n_buffers,
            "buf_size": i.buf_size,
            "local_addr": _ip(i.local_addr),
            "local_port": i.local_port,
            "xdp_mode": XDP_MODES.get(i.xdp_mode, str(i.xdp_mode)),
            "xdp_prog_id": i.xdp_prog_id,
            "bind_flags": _bind_flags(i.bind_flags),
            "umem_hugepages": bool(i.umem_hugepages),
            "stale_prog_id": i.stale_prog_id,
            "dpdk_port": i.dpdk_port,
        }

    def xstats(self) -> dict[str, int]:
        """Backend statistics read now (AF_XDP: XDP_STATISTICS and the program's
        counters; DPDK: the port's extended statistics)."""
        n = lib.wm_nic_xstats(self._q, ffi.NULL, 0)
        if n < 0:
            raise OSError(-n, "wm_nic_xstats failed")
        if n == 0:
            return {}
        xs = ffi.new("struct wm_nic_xstat[]", n)
        got = lib.wm_nic_xstats(self._q, xs, n)
        if got < 0:
            raise OSError(-got, "wm_nic_xstats failed")
        return {ffi.string(xs[k].name).decode(): int(xs[k].value) for k in range(min(n, got))}

    def steer_port(self, port: int, on: bool = True) -> None:
        """AF_XDP: steer (or stop steering) UDP port `port` to this interface's sockets."""
        rc = lib.wm_nic_xdp_steer_port(self._q, port, 1 if on else 0)
        if rc < 0:
            raise NicError(ffi.string(lib.wm_nic_last_error()).decode())

    @property
    def port(self) -> int:
        return int(self.info()["local_port"])

    def stats(self) -> dict[str, int]:
        """Counter values (the last ones, once the queue is closed)."""
        if self._q is None:
            return self._final
        return self.counters.snapshot()

    # -- packets (copies; for the control plane and tests) --
    def recv(self, max_packets: int = 32, timeout: float = 0.0) -> list[Packet]:
        """Up to max_packets packets, waiting up to timeout seconds for the first."""
        n = lib.wm_nic_rx_burst(self._q, self._pkts, min(max_packets, 256))
        if n == 0 and timeout > 0:
            w = lib.wm_nic_wait(self._q, int(timeout * 1e6))
            if w < 0 and w != -61:  # -ENODATA: finite source done
                raise OSError(-w, "wm_nic_wait failed")
            n = lib.wm_nic_rx_burst(self._q, self._pkts, min(max_packets, 256))
        if n == -61:
            raise EOFError("the capture is exhausted")
        if n < 0:
            raise OSError(-n, "wm_nic_rx_burst failed")
        out = []
        for k in range(n):
            p = self._pkts[k]
            data = bytes(ffi.buffer(p.data, p.len))
            if p.kind == lib.WM_NIC_PKT_L4:
                src = (_ip(p.src_addr), _port(p.src_port))
                dst = (_ip(p.dst_addr), _port(p.dst_port))
                out.append(Packet(data, "l4", src, dst))
            else:
                out.append(Packet(data, "l2", None, None))
        lib.wm_nic_rx_release(self._q, self._pkts, n)
        return out

    def hold(self, max_packets: int) -> Any:
        """Receive without releasing (to exhaust buffers); returns a handle for release()."""
        pk = ffi.new("struct wm_nic_pkt[]", max_packets)
        n = lib.wm_nic_rx_burst(self._q, pk, max_packets)
        if n < 0:
            raise OSError(-n, "wm_nic_rx_burst failed")
        return pk, n

    def release(self, held: Any) -> None:
        pk, n = held
        lib.wm_nic_rx_release(self._q, pk, n)

    def send(self, packets: Sequence[tuple[bytes, tuple[str, int]]] | Sequence[bytes]) -> int:
        """UDP payloads to (ip, port), or raw frames (bytes alone: L2)."""
        n = len(packets)
        pk = ffi.new("struct wm_nic_pkt[]", n)
        keep = []
        for k, item in enumerate(packets):
            if isinstance(item, tuple):
                data, (ip, port) = item
                pk[k].kind = lib.WM_NIC_PKT_L4
                pk[k].dst_addr = struct.unpack("=I", socket.inet_aton(ip))[0]
                pk[k].dst_port = socket.htons(port)
            else:
                data = item
                pk[k].kind = lib.WM_NIC_PKT_L2
            buf = ffi.from_buffer(data)
            keep.append(buf)
            pk[k].data = ffi.cast("uint8_t *", buf)
            pk[k].len = len(data)
        done = lib.wm_nic_tx_burst(self._q, pk, n)
        if done < 0:
            raise OSError(-done, "wm_nic_tx_burst failed")
        return done

    def flush(self) -> None:
        """Reap and push transmits, and fold the kernel's counts in now."""
        lib.wm_nic_flush(self._q)
        lib.wm_nic_sync_stats(self._q)

    def close(self) -> None:
        if getattr(self, "_q", None) is not None:
            _LIVE.discard(self)
            lib.wm_nic_flush(self._q)  # fold the kernel's/port's statistics in
            self._final = self.counters.snapshot()
            del self.counters  # its memory goes with the queue
            lib.wm_nic_close(self._q)
            self._q = None

    def __enter__(self) -> Queue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def open_queue(backend: str, **kw: Any) -> Queue:
    """Check capabilities, then open; NicUnavailable or NicError carry one sentence."""
    return Queue(backend, **kw)
