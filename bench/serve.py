"""Serve the real bot (on either Teams SDK), or a bare botbuilder echo bot, for the turn benchmark (a subprocess).

Both trust the benchmark's local token issuer and send their replies with a static token, so the whole
inbound path (JWT check, adapter, handler, database) runs as in production, minus Microsoft's servers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aiohttp import web
from botbuilder.core import ActivityHandler, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import create_app
from bot.delivery.tokens import StaticTokenProvider
from bot.settings import Settings
from tests.doubles.issuer import StaticCredentialsFactory


class EchoBot(ActivityHandler):
    async def on_message_activity(self, turn_context: TurnContext) -> None:
        await turn_context.send_activity(f"You said: {turn_context.activity.text}")


class _Config:
    def __init__(self, args: argparse.Namespace) -> None:
        self.APP_ID = args.app_id
        self.APP_PASSWORD = "bench-password"
        self.APP_TYPE = "SingleTenant"
        self.APP_TENANTID = args.tenant
        self.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL = args.metadata_url
        self.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER = args.issuer


def echo_app(args: argparse.Namespace) -> web.Application:
    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(
        _Config(args), credentials_factory=StaticCredentialsFactory(args.app_id)))
    bot = EchoBot()

    async def messages(request: web.Request) -> web.Response:
        response = await adapter.process(request, bot)
        assert response is not None
        return response

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    return app


def real_app(args: argparse.Namespace, sdk: str) -> web.Application:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        microsoft_app_id=args.app_id, microsoft_app_password="bench-password", microsoft_app_tenant_id=args.tenant,
        to_bot_from_channel_openid_metadata_url=args.metadata_url, to_bot_from_channel_token_issuer=args.issuer,
        database_url=args.database_url, run_worker=False, bot_sdk=sdk,
        allowed_service_url_hosts=["http://127.0.0.1"],  # the benchmark's Teams double
    )
    return create_app(settings, outbound=StaticTokenProvider())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["agents", "botbuilder", "echo"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--metadata-url", required=True)
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    app = echo_app(args) if args.kind == "echo" else real_app(args, args.kind)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
