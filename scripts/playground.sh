#!/usr/bin/env bash
# Talk to the bot in a browser with no Azure account: the bot (no credentials, loopback only, SQLite)
# plus Microsoft 365 Agents Playground, which stands in for Teams and its Bot Connector.
# The Playground's user is made facilitator and admin, so every journey can be tried.
# Headless (no browser, e.g. over SSH): TEAMSAPPTESTER_BROWSER=none make playground, then open
# http://127.0.0.1:56150 from a machine that can reach this one.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v npx >/dev/null 2>&1; then
  echo "The playground needs Node.js 18 or newer (npx). Install Node.js, then run 'make playground' again." >&2
  exit 1
fi

export MICROSOFT_APP_ID="" HOST=127.0.0.1 PORT="${PORT:-3978}"
# The Playground's default user id (not a GUID; the bot accepts it only in this local mode).
playground_user="$(.venv/bin/python -c 'from bot.settings import PLAYGROUND_USER_ID; print(PLAYGROUND_USER_ID)')"
mkdir -p var
.venv/bin/python -m bot db upgrade
.venv/bin/python -m bot roles grant facilitator "$playground_user"
.venv/bin/python -m bot roles grant admin "$playground_user"
.venv/bin/python -m bot run &
bot_pid=$!
trap 'kill $bot_pid 2>/dev/null || true' EXIT

for _ in $(seq 1 30); do
  curl -fsS "http://127.0.0.1:${PORT}/healthz" >/dev/null 2>&1 && break
  # The bot stopped (it has said why, e.g. the port is in use): no point starting the Playground.
  kill -0 "$bot_pid" 2>/dev/null || exit 1
  sleep 1
done

npx --yes @microsoft/m365agentsplayground@0.2.28 -e "http://127.0.0.1:${PORT}/api/messages" -c msteams
