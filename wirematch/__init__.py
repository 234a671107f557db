"""wirematch: a kernel-bypass packet-processing appliance for electronic trading.

One import namespace.  Each concern is a sub-package, and imports flow one way
(tests/test_imports.py checks it), from the top down:

    wirematch.pipeline.cli        the `wirematch` command line
    wirematch.replay              the packet-replay harness
    wirematch.pipeline            the appliance and its configuration
    wirematch.pipeline.ops        operator surfaces: status, top, metrics, the API
    wirematch.nic                 choosing and opening NIC backends
    wirematch.classify            flow rules and the slow-path classifier
    wirematch.pipeline.protocols  wire codecs (C) and their Scapy layers
    wirematch.pipeline.native     the native core's bindings and shared-memory views
    wirematch.output              what every command shares (output, errors)
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("wirematch")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
