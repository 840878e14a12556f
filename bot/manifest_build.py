"""Build the Teams app package: `manifest.json`, `color.png` and `outline.png` at the root of one zip.

The manifest comes from `manifest/manifest.template.json`; its `{{SETTING_NAME}}` placeholders are filled
from the settings, each checked first so that a missing or wrong one gives a one-line error naming it.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

from bot.manifest_icons import color_icon_png, outline_icon_png
from bot.settings import Settings, SettingsError

TEMPLATE_PATH = Path(__file__).resolve().parent.parent / "manifest" / "manifest.template.json"
PACKAGE_NAME = "hny-inc-bot.zip"

_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_HOST = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_PLACEHOLDER = re.compile(r"\{\{([A-Z0-9_]+)\}\}")
_DEVELOPER_NAME_MAX = 32  # the manifest schema's limit for developer.name
_NEEDED = "needed to build the Teams app package"
# A fixed timestamp for every zip entry, so the same settings always give the same bytes.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def _error(setting: str, message: str) -> SettingsError:
    return SettingsError(f"Setting {setting}: {message}")


def _guid(setting: str, value: str, what: str) -> str:
    value = value.strip().lower()
    if not value:
        raise _error(setting, f"{_NEEDED} ({what}, a GUID)")
    if not _GUID.match(value):
        raise _error(
            setting, f"'{value}' is not a GUID; {_NEEDED} ({what}, like 00000000-0000-0000-0000-000000000000)"
        )
    return value


def _host(setting: str, value: str) -> str:
    value = value.strip().lower()
    if not value:
        raise _error(setting, f"{_NEEDED} (the bot's public host name, like hny-bot.example.org)")
    if not _HOST.match(value):
        raise _error(
            setting,
            f"'{value}' is not a host name; give the bot's public host name, like hny-bot.example.org, "
            "without https://, a port or a path",
        )
    return value


def _name(setting: str, value: str) -> str:
    value = value.strip()
    if not value:
        raise _error(setting, f"{_NEEDED} (the organisation that publishes the app)")
    if len(value) > _DEVELOPER_NAME_MAX:
        raise _error(
            setting, f"'{value}' is {len(value)} characters; Teams allows at most {_DEVELOPER_NAME_MAX}"
        )
    return value


def _https_url(setting: str, value: str) -> str:
    value = value.strip()
    if not value:
        raise _error(setting, f"{_NEEDED} (an https:// address)")
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or len(value) > 2048:
        raise _error(setting, f"'{value}' is not an https:// address; {_NEEDED}")
    return value


def manifest_values(settings: Settings) -> dict[str, str]:
    """The placeholder values, each checked; raises `SettingsError` naming the first bad setting."""
    return {
        "MICROSOFT_APP_ID": _guid("MICROSOFT_APP_ID", settings.microsoft_app_id, "the bot's Entra app id"),
        "TEAMS_APP_ID": _guid("TEAMS_APP_ID", settings.teams_app_id, "the Teams app's own id"),
        "BOT_DOMAIN": _host("BOT_DOMAIN", settings.bot_domain),
        "DEVELOPER_NAME": _name("DEVELOPER_NAME", settings.developer_name),
        "DEVELOPER_WEBSITE_URL": _https_url("DEVELOPER_WEBSITE_URL", settings.developer_website_url),
        "DEVELOPER_PRIVACY_URL": _https_url("DEVELOPER_PRIVACY_URL", settings.developer_privacy_url),
        "DEVELOPER_TERMS_URL": _https_url("DEVELOPER_TERMS_URL", settings.developer_terms_url),
    }


def _fill(node: object, values: dict[str, str]) -> object:
    if isinstance(node, str):
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in values:
                raise ValueError(f"{TEMPLATE_PATH.name} has an unknown placeholder {{{{{name}}}}}")
            return values[name]

        return _PLACEHOLDER.sub(replace, node)
    if isinstance(node, list):
        return [_fill(item, values) for item in node]
    if isinstance(node, dict):
        return {key: _fill(item, values) for key, item in node.items()}
    return node


def render_manifest(settings: Settings, template: Path = TEMPLATE_PATH) -> dict[str, object]:
    """The manifest as a dict, with every placeholder filled from the settings."""
    values = manifest_values(settings)
    loaded: object = json.loads(template.read_text(encoding="utf-8"))
    filled = _fill(loaded, values)
    if not isinstance(filled, dict):
        raise ValueError(f"{template} does not hold a JSON object")
    return filled


def build_package(settings: Settings, out_dir: Path) -> Path:
    """Write `out_dir/hny-inc-bot.zip` (manifest.json, color.png, outline.png at its root); return its path.

    Raises `SettingsError` (one line naming the setting, e.g. TEAMS_APP_ID) before anything is written.
    """
    manifest = render_manifest(settings)
    files = {
        "manifest.json": (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8"),
        "color.png": color_icon_png(),
        "outline.png": outline_icon_png(),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / PACKAGE_NAME
    # Write beside the target and rename, so a failed build never leaves half a zip behind.
    handle, temp_name = tempfile.mkstemp(prefix=".hny-inc-bot-", suffix=".zip", dir=out_dir)
    try:
        with os.fdopen(handle, "wb") as stream, zipfile.ZipFile(stream, "w") as archive:
            for name, data in files.items():
                info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, data)
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return target
