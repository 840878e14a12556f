"""The SDK edge's speed-up keeps msrest's retry policy exactly as botbuilder configures it."""

from msrest.universal_http.requests import ClientRetryPolicy

from bot.edge.botbuilder.adapter import _fast_msrest_retry_policy


def test_the_faster_retry_policy_retries_exactly_the_same_status_codes() -> None:
    expected = [code for code in range(999) if code == 408 or (500 <= code and code not in (501, 505))]
    _fast_msrest_retry_policy()
    _fast_msrest_retry_policy()
    assert ClientRetryPolicy().policy.status_forcelist == expected
