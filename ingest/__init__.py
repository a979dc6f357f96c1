"""From files to the graph: readers, structure parsing, extraction, passages and the ingest pipeline."""
