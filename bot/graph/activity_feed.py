"""Teams activity-feed notifications (issue 24, part 4, groundwork): one Graph call,
`POST /users/{id}/teamwork/sendActivityNotification` (application permission TeamsActivity.Send), for the
activity types the app declares in its manifest (`activities.activityTypes`, manifest/manifest.template.json).

Graph sends a notification only to someone who has the app installed, and only for a declared type. This
module only makes the call and says what became of it in the outbox's words (sent, retry, the recipient cannot
get it, the message is at fault); choosing who gets one (their preference), and pacing, are the outbox's job.
Logs carry the operation and status codes only (bot/graph/client.py): never the preview text or a user id.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.delivery.ports import FeedResult
from bot.graph.client import GraphClient, segment
from bot.graph.errors import GraphBadRequest, GraphError, GraphForbidden, GraphNotFound
from vocabulary.words import FeedVerdict

# The activity types the manifest declares, with their template text: Graph refuses any other type, and fills
# the template from `template` below. Kept here and checked against the manifest by the tests.
SESSION_INVITATION = "sessionInvitation"
SESSION_REMINDER = "sessionReminder"
ACTIVITY_TYPES: dict[str, tuple[str, str]] = {
    SESSION_INVITATION: ("You're invited to a session", "You're invited: {sessionTitle}"),
    SESSION_REMINDER: ("A reminder before your session", "Reminder: {sessionTitle} starts {startsAt}"),
}
MAX_PREVIEW = 150  # Graph's limit for previewText


@dataclass(frozen=True)
class FeedNotification:
    activity_type: str  # one of ACTIVITY_TYPES
    preview: str  # the line the feed shows under the template text
    template: dict[str, str]  # the template's parameters, e.g. {"sessionTitle": "Allyship basics"}
    web_url: str  # where pressing it leads: the bot's chat (a Teams deep link)


class ActivityFeed:
    def __init__(self, client: GraphClient) -> None:
        self._client = client

    async def send(self, user_id: str, notification: FeedNotification) -> FeedResult:
        if notification.activity_type not in ACTIVITY_TYPES:
            return FeedResult(FeedVerdict.FAILED, code="UndeclaredActivityType")
        body = {
            "topic": {"source": "text", "value": "HNY Inc.", "webUrl": notification.web_url},
            "activityType": notification.activity_type,
            "previewText": {"content": notification.preview[:MAX_PREVIEW]},
            "templateParameters": [{"name": name, "value": value} for name, value in notification.template.items()],
        }
        try:
            response = await self._client.call("feed.notify", "POST",
                                               f"/users/{segment(user_id)}/teamwork/sendActivityNotification",
                                               json=body)
        except (GraphForbidden, GraphNotFound) as error:
            # 403: the app is not installed for them (or the permission was not granted); 404: no such user.
            return FeedResult(FeedVerdict.UNREACHABLE, error.status, error.code)
        except GraphBadRequest as error:
            return FeedResult(FeedVerdict.FAILED, error.status, error.code)
        except GraphError as error:
            if error.retryable:  # throttled past what the client waits out, Graph down, or our credentials
                return FeedResult(FeedVerdict.RETRY, error.status, error.code, error.retry_after)
            return FeedResult(FeedVerdict.FAILED, error.status, error.code)
        return FeedResult(FeedVerdict.SENT, response.status)
