"""The delivery engine (design §7): outbox API, worker, rate limits and the Bot Connector client."""
