"""Flow classification: rules, compilation to flow-table entries, the slow-path consumer."""
