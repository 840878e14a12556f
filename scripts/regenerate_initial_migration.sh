#!/usr/bin/env bash
# Before the first deployment the schema is one initial revision, regenerated from the models.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
rm -f storage/migrations/versions/0001_initial.py
.venv/bin/python - "$tmp" <<'PY'
import sys
from alembic import command
from storage.migrate import alembic_config
config = alembic_config(f"sqlite+aiosqlite:///{sys.argv[1]}/empty.db")
command.revision(config, message="initial schema", autogenerate=True, rev_id="0001",
                 version_path="storage/migrations/versions")
PY
mv storage/migrations/versions/0001_initial_schema.py storage/migrations/versions/0001_initial.py
rm -rf "$tmp"
.venv/bin/ruff format -q storage/migrations/versions/0001_initial.py
echo "regenerated storage/migrations/versions/0001_initial.py"
