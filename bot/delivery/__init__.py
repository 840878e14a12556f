"""The delivery engine (design §7): outbox API, worker, rate limits and the Bot Connector client.

- outbox.py     what features call: enqueue in their own transaction; progress, failures, cancel, re-arm
- worker.py     claims due messages and sends them; run() in the app or `python -m bot worker`
- recorder.py   writes outcomes and attempts, many messages per transaction
- ratelimit.py  the global pacer and Teams' per-conversation windows
- classify.py   what each Connector answer means (retry, recipient unreachable, message at fault, 401)
- connector.py  the three Bot Connector REST calls, over aiohttp
- tokens.py     the TokenProvider protocol; botframework.py wraps botbuilder's credentials (the only SDK use)
- leader.py     on PostgreSQL one worker sends at a time (advisory lock), so instances share one budget
- health.py     /healthz and /metrics figures read from the database; metrics.py the Prometheus series
"""
