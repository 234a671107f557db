"""Flow classification: the operator's rules, decisions on unknown flows, and
the thin layer that applies them to the C flow table (docs/flows.md)."""
