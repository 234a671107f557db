"""Scapy layers for the appliance's wire protocols: MoldUDP64 framing with
OUCH 5.0 (order entry, both directions) and TotalView-ITCH 5.0 (market data).

bind_ports() binds them to UDP ports so that Scapy dissects captures:
client-to-appliance order entry is UDP to ouch_port, the appliance's answers
come from ouch_port, market data goes to itch_port.
"""

from __future__ import annotations

from scapy.layers.inet import UDP
from scapy.packet import bind_layers

from wirematch.pipeline.protocols.itch import MoldItch
from wirematch.pipeline.protocols.mold import MoldUDP64, mold_packet, session_field
from wirematch.pipeline.protocols.ouch import MoldOuchIn, MoldOuchOut

OUCH_PORT = 15000
ITCH_PORT = 16000

__all__ = [
    "ITCH_PORT",
    "OUCH_PORT",
    "MoldItch",
    "MoldOuchIn",
    "MoldOuchOut",
    "MoldUDP64",
    "bind_ports",
    "mold_packet",
    "session_field",
]


def bind_ports(ouch_port: int = OUCH_PORT, itch_port: int = ITCH_PORT) -> None:
    bind_layers(UDP, MoldOuchIn, dport=ouch_port)
    bind_layers(UDP, MoldOuchOut, sport=ouch_port)
    bind_layers(UDP, MoldItch, dport=itch_port)


bind_ports()
