"""The packet-replay test harness (docs/replay.md): seeded captures of
OUCH-in-MoldUDP64 order flow, a replayer, a capturer, the golden model of
what the appliance must answer, the comparison and the latency report."""
