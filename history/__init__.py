"""The failure history: the DuckDB file both containers share (schema, records, writer, reader)."""
