"""The Teams app package: manifest valid against Microsoft's 1.30 schema, icons within Microsoft's rules,
and the command line."""

from __future__ import annotations

import copy
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from PIL import Image

import bot.__main__
import bot.cli.manifest
from bot.manifest_build import PACKAGE_NAME, build_package
from bot.settings import Settings, SettingsError

SCHEMA_PATH = Path(__file__).parent / "data" / "teams-manifest-v1.30.schema.json"
BOT_ID = "11111111-2222-3333-4444-555555555555"
TEAMS_APP_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
TENANT_ID = "99999999-8888-7777-6666-555555555555"
DOMAIN = "hny-bot.example.org"
NHS_BLUE = (0x00, 0x5E, 0xB8)
WHITE = (255, 255, 255)

VALID: dict[str, str] = {
    "microsoft_app_id": BOT_ID,
    "microsoft_app_password": "test-secret",
    "microsoft_app_tenant_id": TENANT_ID,
    "teams_app_id": TEAMS_APP_ID,
    "bot_domain": DOMAIN,
    "developer_name": "HNY Health and Care Partnership",
    "developer_website_url": "https://example.org/hny-inc",
    "developer_privacy_url": "https://example.org/hny-inc/privacy",
    "developer_terms_url": "https://example.org/hny-inc/terms",
}

PERSONAL_COMMANDS = {
    "help", "express interest", "my details", "my sessions", "my data", "withdraw", "privacy",
}


@pytest.fixture(autouse=True)
def _no_outside_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Settings come only from the test: no environment variables, no `.env` in the working folder."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)


def make_settings(**changes: str) -> Settings:
    return Settings(**{**VALID, **changes}, _env_file=None)  # type: ignore[arg-type]


@pytest.fixture
def package(tmp_path: Path) -> Path:
    return build_package(make_settings(), tmp_path / "build")


def read_zip(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def read_manifest(path: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads(read_zip(path)["manifest.json"].decode("utf-8"))
    return manifest


def schema_errors(manifest: dict[str, Any]) -> list[str]:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    # Microsoft's schema says draft-04 but uses `const` and `if`/`then`, which a Draft 4 validator ignores.
    validator = jsonschema.Draft7Validator(schema)
    return [f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(manifest)]


def test_package_is_written_where_asked(tmp_path: Path, package: Path) -> None:
    assert package == tmp_path / "build" / PACKAGE_NAME
    assert package.name == "hny-inc-bot.zip"
    assert zipfile.is_zipfile(package)


def test_zip_holds_exactly_the_manifest_and_two_icons_at_its_root(package: Path) -> None:
    with zipfile.ZipFile(package) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        assert archive.testzip() is None


def test_manifest_is_valid_against_the_1_30_schema(package: Path) -> None:
    manifest = read_manifest(package)
    assert schema_errors(manifest) == []
    assert manifest["manifestVersion"] == "1.30"
    assert manifest["$schema"] == (
        "https://developer.microsoft.com/en-us/json-schemas/teams/v1.30/MicrosoftTeams.schema.json"
    )


def test_the_schema_check_would_catch_a_wrong_manifest_version(package: Path) -> None:
    """Guards the validator choice: Draft 4 would ignore `const` and pass this."""
    manifest = copy.deepcopy(read_manifest(package))
    manifest["manifestVersion"] = "1.29"
    assert any("1.30" in error for error in schema_errors(manifest))


def test_ids_and_domain_come_from_the_settings(package: Path) -> None:
    manifest = read_manifest(package)
    assert manifest["id"] == TEAMS_APP_ID
    (bot_entry,) = manifest["bots"]
    assert bot_entry["botId"] == BOT_ID
    assert manifest["webApplicationInfo"] == {"id": BOT_ID, "resource": f"api://{DOMAIN}/{BOT_ID}"}
    assert manifest["validDomains"] == [DOMAIN]
    assert manifest["developer"] == {
        "name": VALID["developer_name"],
        "websiteUrl": VALID["developer_website_url"],
        "privacyUrl": VALID["developer_privacy_url"],
        "termsOfUseUrl": VALID["developer_terms_url"],
    }
    assert "{{" not in read_zip(package)["manifest.json"].decode("utf-8")


def test_bot_entry_and_names(package: Path) -> None:
    manifest = read_manifest(package)
    (bot_entry,) = manifest["bots"]
    assert sorted(bot_entry["scopes"]) == ["personal", "team"]
    assert bot_entry["isNotificationOnly"] is False
    assert bot_entry["supportsFiles"] is True  # the roster CSV goes through the file consent card (issue 7)
    assert manifest["name"]["short"] == "HNY Inc. volunteers"
    assert manifest["accentColor"].upper() == "#005EB8"
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}
    assert "Humber and North Yorkshire Health and Care Partnership" in manifest["description"]["full"]
    assert "HNY.Inc@nhs.net" in manifest["description"]["full"]


def test_command_lists(package: Path) -> None:
    (bot_entry,) = read_manifest(package)["bots"]
    by_scope = {tuple(entry["scopes"]): entry["commands"] for entry in bot_entry["commandLists"]}
    assert set(by_scope) == {("personal",), ("team",)}
    assert {command["title"] for command in by_scope[("personal",)]} == PERSONAL_COMMANDS
    assert [command["title"] for command in by_scope[("team",)]] == ["help"]
    for commands in by_scope.values():
        for command in commands:
            # Teams shows at most 32 characters of a title and 128 of a description.
            assert len(command["title"]) <= 32
            assert 0 < len(command["description"]) <= 128


def test_colour_icon_is_an_opaque_blue_square_with_the_white_symbol_inside_the_padding(package: Path) -> None:
    icon = Image.open(io.BytesIO(read_zip(package)["color.png"]))
    assert icon.format == "PNG"
    assert icon.size == (192, 192)
    assert icon.convert("RGBA").getchannel("A").getextrema() == (255, 255), "the colour icon must be opaque"
    rgb = icon.convert("RGB")
    # A square, not rounded: Teams rounds the corners itself.
    for corner in [(0, 0), (191, 0), (0, 191), (191, 191)]:
        assert rgb.getpixel(corner) == NHS_BLUE
    # The symbol stays inside the central 96×96; the 48-pixel padding is plain background.
    for y in range(192):
        for x in range(192):
            if not (48 <= x < 144 and 48 <= y < 144):
                assert rgb.getpixel((x, y)) == NHS_BLUE, (x, y)
    centre = [rgb.getpixel((x, y)) for y in range(48, 144) for x in range(48, 144)]
    assert centre.count(WHITE) > 96 * 96 // 5


def test_outline_icon_is_32_white_on_fully_transparent(package: Path) -> None:
    icon = Image.open(io.BytesIO(read_zip(package)["outline.png"]))
    assert icon.format == "PNG"
    assert icon.size == (32, 32)
    assert icon.mode == "RGBA"
    pixels = [icon.getpixel((x, y)) for y in range(32) for x in range(32)]
    for pixel in pixels:
        assert isinstance(pixel, tuple)
        assert pixel[3] == 0 or pixel[:3] == WHITE, pixel
    alphas = [pixel[3] for pixel in pixels if isinstance(pixel, tuple)]
    assert alphas.count(0) > 100, "needs a transparent background"
    assert alphas.count(255) > 100, "needs a solid white symbol"
    # No extra padding around the symbol (Microsoft's rule for the outline icon).
    left, top, right, bottom = icon.getchannel("A").getbbox() or (32, 32, 0, 0)
    assert left <= 2 and top <= 2 and right >= 30 and bottom >= 30


def test_same_settings_give_the_same_bytes(tmp_path: Path) -> None:
    first = build_package(make_settings(), tmp_path / "one").read_bytes()
    second = build_package(make_settings(), tmp_path / "two").read_bytes()
    assert first == second


def test_a_rebuild_replaces_the_zip(tmp_path: Path) -> None:
    out = tmp_path / "build"
    build_package(make_settings(), out)
    build_package(make_settings(teams_app_id=BOT_ID), out)
    assert read_manifest(out / PACKAGE_NAME)["id"] == BOT_ID
    assert sorted(path.name for path in out.iterdir()) == [PACKAGE_NAME]


def test_missing_teams_app_id_gives_a_clear_error_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        build_package(make_settings(teams_app_id=""), tmp_path / "build")
    message = str(caught.value)
    assert message.startswith("Setting TEAMS_APP_ID: needed to build the Teams app package")
    assert "GUID" in message
    assert "\n" not in message
    assert not (tmp_path / "build" / PACKAGE_NAME).exists()


def test_missing_bot_id_gives_a_clear_error(tmp_path: Path) -> None:
    settings = make_settings(microsoft_app_id="", microsoft_app_password="")
    expected = r"^Setting MICROSOFT_APP_ID: needed to build the Teams app package"
    with pytest.raises(SettingsError, match=expected):
        build_package(settings, tmp_path)


@pytest.mark.parametrize(
    ("field", "value", "setting"),
    [
        ("teams_app_id", "not-a-guid", "TEAMS_APP_ID"),
        ("bot_domain", "", "BOT_DOMAIN"),
        ("bot_domain", "https://hny-bot.example.org/api/messages", "BOT_DOMAIN"),
        ("bot_domain", "localhost", "BOT_DOMAIN"),
        ("developer_name", "", "DEVELOPER_NAME"),
        ("developer_name", "Humber and North Yorkshire Health and Care Partnership", "DEVELOPER_NAME"),
        ("developer_website_url", "", "DEVELOPER_WEBSITE_URL"),
        ("developer_privacy_url", "http://example.org/privacy", "DEVELOPER_PRIVACY_URL"),
        ("developer_terms_url", "example.org/terms", "DEVELOPER_TERMS_URL"),
    ],
)
def test_bad_setting_is_named(tmp_path: Path, field: str, value: str, setting: str) -> None:
    with pytest.raises(SettingsError, match=rf"^Setting {setting}: "):
        build_package(make_settings(**{field: value}), tmp_path)
    assert list(tmp_path.iterdir()) == []


def _set_env(monkeypatch: pytest.MonkeyPatch, **changes: str) -> None:
    for name, value in {**VALID, **changes}.items():
        monkeypatch.setenv(name.upper(), value)


def test_cli_builds_the_package_and_prints_its_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bot.cli.manifest in bot.__main__.COMMAND_MODULES
    _set_env(monkeypatch)
    out = tmp_path / "out"
    assert bot.__main__.main(["manifest", "build", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.strip()
    assert Path(printed) == out / PACKAGE_NAME
    assert read_manifest(Path(printed))["id"] == TEAMS_APP_ID


def test_cli_default_folder_is_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _set_env(monkeypatch)
    assert bot.__main__.main(["manifest", "build"]) == 0
    assert (tmp_path / "build" / PACKAGE_NAME).is_file()  # the fixture made tmp_path the working folder
    assert capsys.readouterr().out.strip().endswith(f"build/{PACKAGE_NAME}")


def test_cli_reports_a_missing_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _set_env(monkeypatch, teams_app_id="")
    assert bot.__main__.main(["manifest", "build", "--out", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("Setting TEAMS_APP_ID: needed to build the Teams app package")
    assert not (tmp_path / "out" / PACKAGE_NAME).exists()
