#!/usr/bin/env bash
# Adds the next Alembic revision from the difference between the models and the migrations (autogenerate).
# Usage: scripts/new_migration.sh "what changed". Read the file it writes before committing it.
set -euo pipefail
cd "$(dirname "$0")/.."
message="${1:?say what changed, e.g. scripts/new_migration.sh \"activity feed preference\"}"
last=$(ls storage/migrations/versions/ | grep -E '^[0-9]{4}_' | sort | tail -n 1 | cut -c1-4)
next=$(printf '%04d' $((10#$last + 1)))
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
.venv/bin/python - "$tmp" "$message" "$next" <<'PY'
import sys
from alembic import command
from storage.migrate import alembic_config, upgrade_sync
url = f"sqlite+aiosqlite:///{sys.argv[1]}/migrated.db"
upgrade_sync(url)
command.revision(alembic_config(url), message=sys.argv[2], autogenerate=True, rev_id=sys.argv[3],
                 version_path="storage/migrations/versions")
PY
.venv/bin/ruff format -q storage/migrations/versions/"$next"_*.py
echo "wrote storage/migrations/versions/${next}_*.py: read it before committing"
