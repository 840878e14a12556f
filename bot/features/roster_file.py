"""The roster as a CSV file in the facilitator's OneDrive, through Teams' file consent flow (a bot can attach a
file in a personal chat only so): the roster card's button asks where to save it, Teams shows a file consent
card, and the answer comes back as a `fileConsent/invoke` with an upload address. The file is made only then,
after the facilitator is checked again, and goes to that address or nowhere; the bot keeps no copy."""

from __future__ import annotations

import logging
from typing import Literal
from urllib.parse import urlsplit

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.activity import InvokeAnswer
from bot.features import Wiring
from bot.features.session_cards import CHANNEL_ONLY_PRIVATE, answered_refusal
from bot.loopback import is_loopback_http
from bot.services.sessions import ActionResult, SessionService
from bot.turns import Turn
from cards.basics import notice
from vocabulary.actions.sessions import SESSION_ROSTER_CSV, SessionRef
from vocabulary.catalogue import RecordId

log = logging.getLogger(__name__)

FILE_DECLINED = "OK, I didn't save the file. You can still see the list on the card."
FILE_FAILED = ("Sorry, I couldn't save the file to your OneDrive. Nothing was shared. Please try again in a minute, "
               "or contact HNY.Inc@nhs.net.")
FILE_SAVED = "Here is the list as a CSV file. Please keep it private: it has names and e-mails."
NOT_FOR_YOU_FILE = "That file card is out of date, so nothing was saved. Open the list again to get a new one."
FILE_CONSENT_TYPE = "application/vnd.microsoft.teams.card.file.consent"
FILE_INFO_TYPE = "application/vnd.microsoft.teams.card.file.info"
UPLOAD_TIMEOUT_SECONDS = 30.0


class FileContext(BaseModel):
    """What our file consent card asked to save: the roster of one session."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["roster_csv"]
    session_id: RecordId


class UploadInfo(BaseModel):
    model_config = ConfigDict(extra="ignore", str_max_length=4000, populate_by_name=True)
    name: str = Field(min_length=1, max_length=255)
    upload_url: str = Field(alias="uploadUrl")
    content_url: str = Field(alias="contentUrl")
    unique_id: str = Field(alias="uniqueId", max_length=255)
    file_type: str = Field(default="csv", alias="fileType", max_length=32)


class FileConsentValue(BaseModel):
    """The value of a `fileConsent/invoke`: the person's answer to our file consent card."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    type: Literal["fileUpload"]
    action: Literal["accept", "decline"]
    context: FileContext
    upload_info: UploadInfo | None = Field(default=None, alias="uploadInfo")


def upload_url_allowed(url: str) -> bool:
    """Teams' upload URLs are https (OneDrive). Plain http only on this machine, for local doubles."""
    parts = urlsplit(url)
    return (parts.scheme == "https" and bool(parts.hostname)) or is_loopback_http(url)


async def put_file(url: str, content: bytes) -> bool:
    """Upload the whole file in one PUT, as the upload session Teams gives expects; True when it was stored.
    Redirects are not followed: the names and e-mails go to the address Teams gave, or nowhere."""
    headers = {"Content-Length": str(len(content)), "Content-Range": f"bytes 0-{len(content) - 1}/{len(content)}"}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=UPLOAD_TIMEOUT_SECONDS)) as http, \
                http.put(url, data=content, headers=headers, allow_redirects=False) as response:
            await response.read()
            return response.status in (200, 201)
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("roster file upload failed: %s", type(exc).__name__)
        return False


class RosterFileFeature:
    def __init__(self, service: SessionService) -> None:
        self.service = service

    async def offer_action(self, turn: Turn, payload: SessionRef) -> None:
        """Ask where to save the file: Teams shows a file consent card, and the answer comes back as an invoke.
        The card carries only the session id; the file is made when the person accepts, after a new check."""
        if not await turn.in_private_chat(CHANNEL_ONLY_PRIVATE):
            return
        result = await self.service.roster_file(turn.person_id, payload.session_id, "session.roster.export.offer")
        if isinstance(result, ActionResult):
            await answered_refusal(turn, result)
            return
        context = {"kind": "roster_csv", "session_id": result.session_id}
        await turn.send({"type": "message", "attachments": [{
            "contentType": FILE_CONSENT_TYPE, "name": result.name, "content": {
                "description": "The names and e-mails of the people who accepted or are waiting. Keep it private.",
                "sizeInBytes": len(result.content), "acceptContext": context, "declineContext": context}}]})

    async def file_consent_invoke(self, turn: Turn) -> InvokeAnswer:
        try:
            answer = FileConsentValue.model_validate(turn.activity.value)
        except ValidationError:
            await turn.reply_card(notice("That button is out of date", NOT_FOR_YOU_FILE))
            return InvokeAnswer(200)
        if answer.action == "decline":
            await turn.reply_text(FILE_DECLINED)
            return InvokeAnswer(200)
        info = answer.upload_info
        result = await self.service.roster_file(turn.person_id, answer.context.session_id, "session.roster.export")
        if isinstance(result, ActionResult):
            await answered_refusal(turn, result)
            return InvokeAnswer(200)
        if info is None or not upload_url_allowed(info.upload_url) or not await put_file(info.upload_url,
                                                                                       result.content):
            await turn.reply_text(FILE_FAILED)
            return InvokeAnswer(200)
        await turn.send({"type": "message", "text": FILE_SAVED, "attachments": [{
            "contentType": FILE_INFO_TYPE, "name": info.name, "contentUrl": info.content_url,
            "content": {"uniqueId": info.unique_id, "fileType": info.file_type}}]})
        log.info("roster file saved: session=%d", result.session_id)
        return InvokeAnswer(200)


def register_actions(wiring: Wiring, service: SessionService) -> None:
    feature = RosterFileFeature(service)
    wiring.actions.on_submit(SESSION_ROSTER_CSV, feature.offer_action)
    wiring.bot.invoke_handlers["fileConsent/invoke"] = feature.file_consent_invoke
