"""The delivery engine (design §7): outbox API, worker, rate limits and the Bot Connector client.

- outbox.py     what features call: enqueue in their own transaction; progress, failures, cancel, re-arm
- worker.py     the worker's loop and lifecycle; run() in the app or `python -m bot worker`. Its pieces:
  claiming.py   which messages it holds (batches, a task per message, leases)
  pacing.py     when a request may leave (per-conversation windows, then the global pacer; 429 pauses)
  credentials.py  refused credentials stop sending until a probe (and after a 401 a trial) says otherwise
  sending.py    one attempt at one message (send, update, open a chat, install through Graph, feed)
  recorder.py   writes outcomes and attempts, many messages per transaction
- ratelimit.py  the global pacer and Teams' per-conversation windows
- classify.py   what each Connector answer means (retry, recipient unreachable, message at fault, 401)
- connector.py  the three Bot Connector REST calls, over aiohttp
- tokens.py     the TokenProvider protocol (bot/connector_credentials.py wraps botbuilder's credentials)
- leader.py     on PostgreSQL one worker sends at a time (advisory lock), so instances share one budget
- health.py     /healthz and /metrics figures read from the database; metrics.py the Prometheus series
"""
