"""The sender's limits without a network: Teams' per-conversation windows, and the global pacer's spacing,
pause and halt."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.delivery.ratelimit import CONVERSATION_LIMITS, ConversationWindows, Halted, Pacer


def fill(windows: ConversationWindows, key: str, times: list[float]) -> None:
    for at in times:
        windows.record(key, at)


def test_teams_limits_are_the_documented_ones() -> None:
    assert CONVERSATION_LIMITS == ((7, 1.0), (8, 2.0), (60, 30.0), (1800, 3600.0))


def test_seven_per_second_then_eight_per_two_seconds() -> None:
    windows = ConversationWindows(margin=0.0)
    fill(windows, "a", [0.1 * i for i in range(7)])  # 0.0 .. 0.6
    assert windows.wait_time("a", 0.6) == pytest.approx(0.4)  # the first leaves the 1 s window at 1.0
    assert windows.wait_time("b", 0.6) == 0.0  # other conversations are not affected
    windows.record("a", 1.0)
    # 8 in 2 s: the 9th waits until the first is 2 s old.
    assert windows.wait_time("a", 1.1) == pytest.approx(0.9)


def test_sixty_per_thirty_seconds_and_hourly() -> None:
    thirty = ConversationWindows(((60, 30.0),), margin=0.0)
    fill(thirty, "a", [0.25 * i for i in range(60)])  # 0 .. 14.75
    assert thirty.wait_time("a", 15.0) == pytest.approx(15.0)
    hourly = ConversationWindows(((1800, 3600.0),), margin=0.0)
    fill(hourly, "h", [float(i) for i in range(1800)])
    assert hourly.wait_time("h", 1800.0) == pytest.approx(1800.0)


def test_the_margin_widens_every_window() -> None:
    windows = ConversationWindows(margin=0.1)
    fill(windows, "a", [0.0] * 7)
    assert windows.wait_time("a", 0.5) == pytest.approx(0.6)


def test_quiet_conversations_are_forgotten() -> None:
    windows = ConversationWindows(margin=0.0)
    windows.record("old", 0.0)
    windows.record("new", 3599.0)
    windows.prune(3601.0)
    assert len(windows) == 1


async def test_the_pacer_spaces_requests_evenly_in_arrival_order() -> None:
    pacer = Pacer(100.0)
    released: list[tuple[int, float]] = []

    async def take(n: int) -> None:
        await pacer.acquire()
        released.append((n, time.monotonic()))

    await asyncio.gather(*(take(n) for n in range(30)))
    await pacer.close()
    assert [n for n, _ in released] == list(range(30))
    times = [at for _, at in released]
    assert times[-1] - times[0] >= 29 / 100 - 0.005
    # Never a burst: any 10 consecutive releases span at least 9 intervals (less the timer tolerance).
    assert min(times[i + 9] - times[i] for i in range(len(times) - 9)) >= 0.09 - 0.006


async def test_idle_time_is_not_banked_as_a_burst() -> None:
    pacer = Pacer(20.0)
    await pacer.acquire()
    await asyncio.sleep(0.2)
    start = time.monotonic()
    for _ in range(3):
        await pacer.acquire()
    assert time.monotonic() - start >= 2 / 20 - 0.01
    await pacer.close()


async def test_a_pause_holds_everyone_back() -> None:
    pacer = Pacer(1000.0)
    await pacer.acquire()
    pacer.pause(0.3)
    assert pacer.paused_for() > 0.25
    start = time.monotonic()
    await asyncio.gather(pacer.acquire(), pacer.acquire())
    assert time.monotonic() - start >= 0.29
    await pacer.close()


async def test_halt_wakes_every_waiter_with_halted_until_resumed() -> None:
    pacer = Pacer(1.0)
    await pacer.acquire()
    waiters = [asyncio.create_task(pacer.acquire()) for _ in range(3)]
    sleeper = asyncio.create_task(pacer.wait(60))
    await asyncio.sleep(0)
    pacer.halt()
    results = await asyncio.gather(*waiters, sleeper, return_exceptions=True)
    assert all(isinstance(result, Halted) for result in results)
    with pytest.raises(Halted):
        await pacer.acquire()
    pacer.resume()
    assert not pacer.halted
    await pacer.close()


async def test_no_second_ever_holds_more_than_the_budget() -> None:
    pacer = Pacer(40.9)  # spacing alone would allow 41 in some seconds; the cap is 40
    released: list[float] = []
    for _ in range(50):
        await pacer.acquire()
        released.append(time.monotonic())
    await pacer.close()
    assert max(sum(1 for t in released if start <= t < start + 1.0) for start in released) <= 40


async def test_the_cap_counts_requests_when_they_leave_not_when_they_were_let_go() -> None:
    pacer = Pacer(20.5)  # cap 20 a second
    held = []
    for _ in range(20):
        turn = pacer.turn()
        held.append((turn, await turn.__aenter__()))
    late = asyncio.create_task(pacer.acquire())
    await asyncio.sleep(0.2)
    assert not late.done(), "20 let go and not yet gone still count"
    first_out = time.monotonic()
    held[0][1].depart()
    for manager, _ in held[1:]:
        await manager.__aexit__(None, None, None)  # never left: their places come back at once
    await asyncio.wait_for(late, 2)
    assert time.monotonic() - first_out < 0.5
    await held[0][0].__aexit__(None, None, None)
    await pacer.close()


async def test_a_margin_widens_the_sliding_second() -> None:
    narrow = Pacer(2.0, margin=0.5)  # cap 2 per 1.5 s: the third waits for the first to be 1.5 s old
    start = time.monotonic()
    for _ in range(3):
        await narrow.acquire()
    assert time.monotonic() - start >= 1.49
    await narrow.close()


async def test_a_seeded_pacer_counts_the_last_senders_requests_in_its_second() -> None:
    """A new sender started from the requests its predecessor made in the last second: together they never put
    more than the budget into one second."""
    pacer = Pacer(20.0)
    now = time.monotonic()
    seeded = [now - 0.9 + 0.045 * i for i in range(20)]  # 20 in the last 0.9 s: the second is full
    pacer.seed(seeded)
    released: list[float] = []
    for _ in range(5):
        await pacer.acquire()
        released.append(time.monotonic())
    await pacer.close()
    everything = sorted(seeded + released)
    assert max(sum(1 for t in everything if start <= t < start + 1.0) for start in everything) <= 20


def test_seeded_conversation_windows_hold_the_next_request_back() -> None:
    windows = ConversationWindows(margin=0.1)
    windows.seed("a", [0.0] * 7)  # the last sender's seven to this chat, just now
    assert windows.wait_time("a", 0.5) == pytest.approx(0.6)
    assert windows.wait_time("b", 0.5) == 0.0
    assert windows.seed_seconds == pytest.approx(30.1)  # the hourly window is not read back
