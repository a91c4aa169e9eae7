"""Services: the shell's use cases (ingest, ...), wiring the pure core to the store."""
