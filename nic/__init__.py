"""NIC backends: capability checks, set-up and test hosts (veth in a namespace)."""
