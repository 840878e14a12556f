"""Typed settings: one object, read from the environment and an optional `.env`, validated at start-up."""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.loopback import is_loopback_host
from storage.models.people import ENTRA_ID

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# Microsoft 365 Agents Playground's users: zeros and 13 digits in the last group, so not a GUID. Accepted only in
# local mode (no MICROSOFT_APP_ID, loopback host), so that someone trying the bot can reach every role.
_PLAYGROUND_ID = re.compile(r"^00000000-0000-0000-0000-[0-9]{13}$")
PLAYGROUND_USER_ID = "00000000-0000-0000-0000-0000000000020"  # the Playground's default user
TEAMS_MESSAGES_PER_SECOND = 50.0
MIN_LOG_ID_KEY = 32  # characters of LOG_ID_KEY
NOT_AN_ENTRA_ID = "'{value}' is not an Entra id (a GUID like 00000000-0000-0000-0000-000000000000)"


def is_entra_id(value: str) -> bool:
    return bool(_UUID.match(value))


def is_playground_id(value: str) -> bool:
    return bool(_PLAYGROUND_ID.match(value))


def fits_id_columns(person_id: str, database_url: str) -> bool:
    """SQLite keeps an id of any length; PostgreSQL only as many characters as the schema's id columns hold."""
    return not database_url.startswith("postgresql") or len(person_id) <= (ENTRA_ID.length or len(person_id))


def is_local(microsoft_app_id: str, host: str) -> bool:
    """Local mode: no authentication, so the bot listens only on this machine."""
    return not microsoft_app_id and is_loopback_host(host)


CommaList = Annotated[list[str], NoDecode]
# Teams' public-cloud Bot Connector. Sovereign clouds (e.g. smba.infra.gcc.teams.microsoft.com) are configured.
DEFAULT_SERVICE_URL_HOST = "smba.trafficmanager.net"


def _split(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class SettingsError(Exception):
    """A bad or missing setting; the message is one line that names it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    # Which Teams SDK receives activities (bot/edge/): the Microsoft 365 Agents SDK, or botbuilder 4.17 (archived
    # upstream, out of support since 2025-12-31; kept selectable for one release, docs/deploy.md).
    bot_sdk: Literal["agents", "botbuilder"] = "agents"

    # Bot identity (Entra app registration). Empty app id = local development without authentication.
    microsoft_app_id: str = ""
    microsoft_app_password: SecretStr | None = None
    microsoft_app_certificate_thumbprint: str | None = None
    microsoft_app_certificate_private_key_file: str | None = None
    microsoft_app_tenant_id: str = ""
    microsoft_app_type: Literal["SingleTenant", "MultiTenant", "UserAssignedMSI"] = "SingleTenant"
    # The Agents SDK's other ways to prove the bot's identity (MsalAuth): a certificate as a PFX file, a managed
    # identity, or federated credentials (a managed identity's or a workload's token instead of a secret).
    microsoft_app_auth_type: Literal["ClientSecret", "Certificate", "UserManagedIdentity", "SystemManagedIdentity",
                                     "FederatedCredentials", "WorkloadIdentity"] | None = None
    microsoft_app_certificate_pfx_file: str | None = None
    microsoft_app_federated_client_id: str | None = None
    microsoft_app_federated_token_file: str | None = None

    # Where tokens are checked and fetched; only set to stand in a local issuer (tests, benchmarks).
    to_bot_from_channel_openid_metadata_url: str | None = None
    to_bot_from_channel_token_issuer: str | None = None
    to_channel_from_bot_login_url: str | None = None
    to_channel_from_bot_oauth_scope: str | None = None

    # Where replies may go (design §8, docs/deploy.md): Teams' Bot Connector hosts, https only, each host matched
    # exactly (any path: /emea/, /uk/, /amer/, /teams/). An entry written http://HOST allows plain http to a
    # loopback HOST (the tests' Teams double); local mode allows http on loopback anyway.
    allowed_service_url_hosts: CommaList = Field(default_factory=lambda: [DEFAULT_SERVICE_URL_HOST])

    database_url: str = "sqlite+aiosqlite:///var/hny-inc-bot.db"
    allowed_tenants: CommaList = Field(default_factory=list)
    bootstrap_admins: CommaList = Field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = Field(default=3978, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # text for local runs; json (one object per line, allow-listed fields only: bot/log_format.py) in the image.
    log_format: Literal["json", "text"] = "text"
    # Keys the HMAC that stands for a person's id in the logs. Needed with LOG_FORMAT=json outside local mode, the
    # same on every instance (so one person's lines match across them); empty: a random key per process.
    log_id_key: SecretStr | None = None

    # Delivery engine (design §7).
    send_rate_per_second: float = Field(default=30.0, gt=0)
    delivery_max_attempts: int = Field(default=8, ge=1, le=50)
    delivery_lease_seconds: int = Field(default=60, ge=5, le=3600)
    delivery_backoff_cap_seconds: float = Field(default=300.0, gt=0)
    run_worker: bool = True

    # Programme rules.
    counts_refresh_hours: int = Field(default=24, ge=1, le=24 * 31)
    retention_days: int = Field(default=365, ge=0, le=3650)
    reminder_offsets_minutes: Annotated[list[int], NoDecode] = Field(default_factory=lambda: [24 * 60, 60])
    quiet_hours_start: time = time(20, 0)
    quiet_hours_end: time = time(8, 0)
    resend_limit_per_hour: int = Field(default=5, ge=1, le=100)

    # Erasure that survives a restore (design §6, docs/privacy.md): an append-only log kept outside the database
    # and its backups, replayed at start-up; and how often the retention job checks whether it is due.
    erasure_log_path: str = "var/erasures.log"
    retention_check_minutes: int = Field(default=60, ge=1, le=24 * 60)
    # Retention of the operational tables (issue 23, docs/privacy.md "How long things are kept"). Finished outbox
    # messages lose their text after OUTBOX_COMPACT_DAYS (keys, Teams ids and statuses stay); attempt rows go
    # after OUTBOX_ATTEMPTS_DAYS (at least a day: a new sender seeds its rate windows from the last hour's); erasure
    # log lines go once no backup can be older than them, BACKUP_RETENTION_DAYS (35: the longest point-in-time
    # restore of Azure Database for PostgreSQL; say more if longer-term backups are kept).
    outbox_compact_days: int = Field(default=30, ge=1, le=3650)
    outbox_attempts_days: int = Field(default=30, ge=1, le=3650)
    backup_retention_days: int = Field(default=35, ge=1, le=3650)

    # Teams app package (manifest).
    bot_domain: str = ""
    developer_name: str = "HNY Health and Care Partnership"  # Teams allows 32 characters
    developer_website_url: str = "https://humberandnorthyorkshire.org.uk"
    developer_privacy_url: str = "https://humberandnorthyorkshire.org.uk/privacy"
    developer_terms_url: str = "https://humberandnorthyorkshire.org.uk/terms"
    teams_app_id: str = ""

    # Microsoft Graph (off unless a tenant and credentials are configured).
    graph_enabled: bool = False
    graph_base_url: str = "https://graph.microsoft.com/v1.0"
    graph_authority_url: str = ""
    graph_organiser_mailbox: str = ""
    facilitator_group_ids: CommaList = Field(default_factory=list)
    admin_group_ids: CommaList = Field(default_factory=list)
    # The bot's id in the org's Teams app catalog (not TEAMS_APP_ID), for proactive install; empty = looked up.
    graph_teams_catalog_app_id: str = ""

    # The desk (personal tab, bot/desk/, docs/architecture.md "The desk"). Its tokens come from Entra;
    # the two URLs are only set to stand in a local issuer (tests), like TO_BOT_FROM_CHANNEL_*.
    desk_openid_metadata_url: str | None = None
    desk_token_issuer: str | None = None
    # Signs the desk's session cookie. Set the same value on every instance when several serve the desk; empty:
    # a random key per process (one instance, local mode), so a restart signs everyone in again silently.
    desk_session_secret: SecretStr | None = None
    desk_session_minutes: int = Field(default=30, ge=5, le=8 * 60)

    @field_validator("allowed_tenants", "bootstrap_admins", "facilitator_group_ids", "admin_group_ids",
                     mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return _split(value)

    @field_validator("allowed_service_url_hosts", mode="before")
    @classmethod
    def _service_hosts_list(cls, value: object) -> object:
        return _split(value)

    @field_validator("allowed_service_url_hosts")
    @classmethod
    def _service_hosts(cls, value: list[str]) -> list[str]:
        hosts = [item.lower().removeprefix("https://").rstrip("/") for item in value]
        for host in hosts:
            bare = host.removeprefix("http://")
            if not bare or any(mark in bare for mark in "/:@?# "):
                raise ValueError(f"'{host}' is not a host name (write it like smba.trafficmanager.net)")
            if host.startswith("http://") and not is_loopback_host(bare):
                raise ValueError(f"'{host}': plain http is allowed only to this machine (127.0.0.1, localhost)")
        return hosts

    @field_validator("send_rate_per_second")
    @classmethod
    def _send_rate(cls, value: float) -> float:
        # Teams' documented limit for one app in one tenant; above it every extra message is a 429 that pauses
        # the whole sender (design §7), so a higher setting only makes delivery slower.
        if value > TEAMS_MESSAGES_PER_SECOND:
            raise ValueError(f"at most {TEAMS_MESSAGES_PER_SECOND:g}, Teams' limit of messages per second for one "
                             "app in a tenant")
        return value

    @field_validator("log_format", mode="before")
    @classmethod
    def _log_format(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("log_id_key")
    @classmethod
    def _log_id_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value():
            return None
        if value is not None and len(value.get_secret_value()) < MIN_LOG_ID_KEY:
            raise ValueError(f"use at least {MIN_LOG_ID_KEY} characters, e.g. the output of "
                             "python -c 'import secrets; print(secrets.token_hex(32))'")
        return value

    @field_validator("reminder_offsets_minutes", mode="before")
    @classmethod
    def _offsets(cls, value: object) -> object:
        return _split(value)

    @field_validator("allowed_tenants", "facilitator_group_ids", "admin_group_ids")
    @classmethod
    def _uuids(cls, value: list[str]) -> list[str]:
        for item in value:
            if not is_entra_id(item):
                raise ValueError(NOT_AN_ENTRA_ID.format(value=item))
        return [item.lower() for item in value]

    @field_validator("bootstrap_admins")
    @classmethod
    def _admin_ids(cls, value: list[str]) -> list[str]:
        # A Playground id passes here; _credentials_or_loopback refuses it outside local mode.
        for item in value:
            if not (is_entra_id(item) or is_playground_id(item)):
                raise ValueError(NOT_AN_ENTRA_ID.format(value=item))
        return [item.lower() for item in value]

    @field_validator("microsoft_app_tenant_id")
    @classmethod
    def _tenant(cls, value: str) -> str:
        # Teams sends tenant ids in lower case, and they are stored that way: a tenant configured in capitals
        # must still match them (e.g. the conversations of a person reached by proactive install).
        return value.strip().lower()

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("use sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db")
        return value

    @model_validator(mode="after")
    def _credentials_or_loopback(self) -> Settings:
        if self.bot_sdk == "agents" and self.microsoft_app_id:
            self._check_agents_credentials()
        elif self.microsoft_app_id and not (
            self.microsoft_app_password or self.microsoft_app_certificate_thumbprint
        ) and self.microsoft_app_type != "UserAssignedMSI":
            raise _setting_error(
                "MICROSOFT_APP_PASSWORD",
                "MICROSOFT_APP_PASSWORD (or MICROSOFT_APP_CERTIFICATE_THUMBPRINT) is needed with MICROSOFT_APP_ID",
            )
        if self.microsoft_app_type == "SingleTenant" and self.microsoft_app_id and not self.microsoft_app_tenant_id:
            raise _setting_error("MICROSOFT_APP_TENANT_ID",
                                 "MICROSOFT_APP_TENANT_ID is needed when MICROSOFT_APP_TYPE is SingleTenant")
        if not self.microsoft_app_id and not is_loopback_host(self.host):
            raise _setting_error(
                "HOST",
                f"HOST={self.host} is not a loopback address: without MICROSOFT_APP_ID the bot has no "
                "authentication and listens only on 127.0.0.1 or localhost",
            )
        if self.log_format == "json" and self.log_id_key is None and not self.local:
            raise _setting_error("LOG_ID_KEY", "LOG_ID_KEY is needed with LOG_FORMAT=json outside local mode: it keys "
                                 "the HMAC that stands for a person's id in the logs (docs/deploy.md)")
        for admin_id in self.bootstrap_admins:
            if not self.local and not is_entra_id(admin_id):
                raise _setting_error("BOOTSTRAP_ADMINS", NOT_AN_ENTRA_ID.format(value=admin_id)
                                     + "; a Playground id is accepted only without MICROSOFT_APP_ID")
            if not fits_id_columns(admin_id, self.database_url):
                raise _setting_error("BOOTSTRAP_ADMINS", f"the Playground id '{admin_id}' does not fit the "
                                     "PostgreSQL schema; try the Playground with the default SQLite database")
        return self

    def _check_agents_credentials(self) -> None:
        if (self.agents_auth_type == "ClientSecret" and not self.microsoft_app_password
                and self.microsoft_app_certificate_thumbprint):
            raise _setting_error("MICROSOFT_APP_CERTIFICATE_PFX_FILE", "MICROSOFT_APP_CERTIFICATE_PFX_FILE is needed "
                                 "with BOT_SDK=agents: the Agents SDK reads the certificate as a PFX file (the "
                                 "thumbprint and PEM key are botbuilder's; docs/deploy.md section 1a)")
        needs = {
            "ClientSecret": ("MICROSOFT_APP_PASSWORD", self.microsoft_app_password),
            "Certificate": ("MICROSOFT_APP_CERTIFICATE_PFX_FILE", self.microsoft_app_certificate_pfx_file),
            "FederatedCredentials": ("MICROSOFT_APP_FEDERATED_CLIENT_ID", self.microsoft_app_federated_client_id),
            "WorkloadIdentity": ("MICROSOFT_APP_FEDERATED_TOKEN_FILE", self.microsoft_app_federated_token_file),
        }.get(self.agents_auth_type)
        if needs is not None and not needs[1]:
            raise _setting_error(needs[0], f"{needs[0]} is needed with BOT_SDK=agents and MICROSOFT_APP_AUTH_TYPE="
                                 f"{self.agents_auth_type}")

    @property
    def agents_auth_type(self) -> str:
        """How the Agents SDK proves the bot's identity: as set, else what the other settings imply."""
        if self.microsoft_app_auth_type:
            return self.microsoft_app_auth_type
        if self.microsoft_app_type == "UserAssignedMSI":
            return "UserManagedIdentity"
        if self.microsoft_app_certificate_pfx_file and not self.microsoft_app_password:
            return "Certificate"
        return "ClientSecret"

    @property
    def authenticated(self) -> bool:
        return bool(self.microsoft_app_id)

    @property
    def local(self) -> bool:
        return is_local(self.microsoft_app_id, self.host)

    @property
    def log_id_key_bytes(self) -> bytes | None:
        return self.log_id_key.get_secret_value().encode("utf-8") if self.log_id_key else None


def _setting_error(setting: str, message: str) -> PydanticCustomError:
    """A rule across settings, reported under the setting to fix: pydantic names no field for such an error."""
    return PydanticCustomError("setting", "{message}", {"setting": setting, "message": message})


def load_settings(**overrides: object) -> Settings:
    """Build the settings, turning pydantic's report into one line that names the setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        setting = (error.get("ctx") or {}).get("setting", "settings")
        name = "_".join(str(part) for part in error["loc"]).upper() or str(setting)
        message = str(error["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"Setting {name}: {message}") from None
