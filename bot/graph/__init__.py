"""Microsoft Graph (design §8), off unless `GRAPH_ENABLED`: app-only tokens, a small HTTP client that honours
429/503 Retry-After, the calendar, Entra group roles and proactive install. Everything is built per app by
`bot.graph.services.build_graph` (called by the app factory) from the settings, database, clock and hooks it
is given; nothing here imports the wiring or holds module state."""
