"""Outbound delivery: the outbox's events to the customer's endpoints by Standard Webhooks
(signed, retried with full-jitter backoff up to a horizon, in order per user and endpoint), and
the same events as a changes feed."""
