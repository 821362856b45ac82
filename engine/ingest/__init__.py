"""Push ingestion for on-device sources: per-user ingest tokens, and the batches a mobile app
posts with one (read by `batch`, stored by `service`)."""
