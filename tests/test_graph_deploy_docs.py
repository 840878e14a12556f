"""docs/deploy.md documents every setting the bot reads, so operators never meet an undocumented one."""

from __future__ import annotations

from pathlib import Path

from bot.settings import Settings

DEPLOY = Path(__file__).resolve().parent.parent / "docs" / "deploy.md"


def test_every_setting_is_in_the_deployment_guide() -> None:
    text = DEPLOY.read_text(encoding="utf-8")
    missing = [name.upper() for name in Settings.model_fields if f"`{name.upper()}`" not in text]
    assert not missing, f"add these settings to docs/deploy.md (section 4): {', '.join(missing)}"


def test_the_dockerfile_runs_migrations_then_the_bot_on_all_interfaces() -> None:
    dockerfile = (DEPLOY.parent.parent / "Dockerfile").read_text(encoding="utf-8")
    assert dockerfile.startswith("#") and "FROM python:3.11-slim" in dockerfile
    assert "HOST=0.0.0.0" in dockerfile and "pip install ." in dockerfile
    assert "python -m bot db upgrade && exec python -m bot run" in dockerfile
