"""The appliance's wire protocols: the C codecs and gateway (`codec`,
`gateway`) and Scapy layers for MoldUDP64, OUCH 5.0 and ITCH 5.0 (`layers`,
with `mold`, `ouch`, `itch`)."""
