"""Microsoft Graph (design §8), off unless `GRAPH_ENABLED`: app-only tokens, a small HTTP client that honours
429/503 Retry-After, the calendar, Entra group roles and proactive install. Everything is built per app by
`bot.graph.services.get_graph` and passed in; nothing here holds module state."""
