"""Settings stop start-up with one clear line naming the bad setting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings

ROOT = Path(__file__).resolve().parent.parent
ADMIN = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the developer's checkout
    for name in ("MICROSOFT_APP_ID", "MICROSOFT_APP_PASSWORD", "MICROSOFT_APP_TENANT_ID", "HOST", "PORT",
                 "DATABASE_URL", "ALLOWED_TENANTS", "BOOTSTRAP_ADMINS", "SEND_RATE_PER_SECOND"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_run_locally_on_sqlite_without_credentials() -> None:
    settings = load_settings()
    assert settings.host == "127.0.0.1" and settings.port == 3978
    assert settings.database_url.startswith("sqlite+aiosqlite:///var/")
    assert not settings.authenticated


def test_comma_separated_ids_are_read_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOOTSTRAP_ADMINS", f" {ADMIN.upper()} ,")
    assert load_settings().bootstrap_admins == [ADMIN]


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("PORT", "eighty", "Setting PORT:"),
        ("PORT", "70000", "Setting PORT:"),
        ("BOOTSTRAP_ADMINS", "alice@nhs.net", "Setting BOOTSTRAP_ADMINS: 'alice@nhs.net' is not an Entra id"),
        ("DATABASE_URL", "mysql://x", "Setting DATABASE_URL:"),
        ("SEND_RATE_PER_SECOND", "0", "Setting SEND_RATE_PER_SECOND:"),
        ("SEND_RATE_PER_SECOND", "51", "Setting SEND_RATE_PER_SECOND: at most 50, Teams' limit of messages per second"),
        ("MICROSOFT_APP_TYPE", "Whatever", "Setting MICROSOFT_APP_TYPE:"),
    ],
)
def test_a_bad_value_names_the_setting(monkeypatch: pytest.MonkeyPatch, name: str, value: str,
                                       expected: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value).startswith(expected)
    assert "\n" not in str(raised.value)


def test_without_credentials_the_bot_refuses_a_public_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOST", "0.0.0.0")
    with pytest.raises(SettingsError, match=r"HOST=0\.0\.0\.0 is not a loopback address"):
        load_settings()


def test_an_app_id_needs_a_secret_and_a_tenant(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MICROSOFT_APP_ID", ADMIN)
    with pytest.raises(SettingsError, match="MICROSOFT_APP_PASSWORD"):
        load_settings()
    monkeypatch.setenv("MICROSOFT_APP_PASSWORD", "secret")
    with pytest.raises(SettingsError, match="MICROSOFT_APP_TENANT_ID"):
        load_settings()
    monkeypatch.setenv("MICROSOFT_APP_TENANT_ID", ADMIN)
    monkeypatch.setenv("HOST", "0.0.0.0")
    assert load_settings().authenticated


def test_a_tenant_id_in_capitals_is_read_as_teams_sends_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Teams sends tenant ids in lower case; the bot's own must match them (stored conversations, Graph)."""
    monkeypatch.setenv("MICROSOFT_APP_ID", ADMIN)
    monkeypatch.setenv("MICROSOFT_APP_PASSWORD", "secret")
    monkeypatch.setenv("MICROSOFT_APP_TENANT_ID", f" {ADMIN.upper()} ")
    assert load_settings().microsoft_app_tenant_id == ADMIN


def test_the_command_line_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "bot", "run"], cwd=tmp_path, capture_output=True, text=True,
                            env={"PYTHONPATH": str(ROOT), "PORT": "nope", "PATH": "/usr/bin:/bin"}, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("Setting PORT:")
