"""Operator surfaces: status and top, the Prometheus exporter, the operator
API.  They attach to a running instance's shared-memory region read-only or
talk to its API; none of them runs on the data plane."""
