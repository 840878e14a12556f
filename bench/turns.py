"""Turn benchmark: N concurrent simulated Teams users post message turns with signed tokens to the running
bot, on the Agents SDK and on botbuilder; replies go to the Teams double. The same load is run against a bare
botbuilder echo bot for a baseline, the three alternating in one sitting.

    .venv/bin/python bench/turns.py [--users 50] [--turns-per-user 20] [--runs 3] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from storage.migrate import upgrade_sync  # noqa: E402
from tests.doubles.fixtures import make_activity  # noqa: E402
from tests.doubles.issuer import TokenIssuer  # noqa: E402
from tests.doubles.teams import DEFAULT_TENANT_ID, make_member  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_http(url: str, limit_s: float = 30.0) -> None:
    deadline = time.monotonic() + limit_s
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(url) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)  # polling a starting subprocess; not test synchronisation
    raise RuntimeError(f"{url} did not come up")


def start(command: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def load(url: str, service_url: str, issuer: TokenIssuer, users: int, turns: int,
               text: str) -> tuple[float, list[float], int]:
    members = [make_member(i) for i in range(users)]
    # One token per user, made before timing: signing is the channel's cost, not the bot's.
    tokens = {m.aad_object_id: "Bearer " + issuer.token(service_url) for m in members}
    latencies: list[float] = []
    failures = 0
    connector = aiohttp.TCPConnector(limit=users)

    async def user(member_index: int) -> None:
        nonlocal failures
        member = members[member_index]
        for _ in range(turns):
            activity = make_activity(service_url, text=text, member=member)
            began = time.perf_counter()
            async with http.post(url, json=activity,
                                 headers={"Authorization": tokens[member.aad_object_id]}) as response:
                await response.read()
                if response.status not in (200, 201):
                    failures += 1
            latencies.append(time.perf_counter() - began)

    async with aiohttp.ClientSession(connector=connector) as http:
        # Warm-up: first contact writes each person and conversation; keys are fetched once.
        await asyncio.gather(*(user(i) for i in range(users)))
        latencies.clear()
        began = time.perf_counter()
        await asyncio.gather(*(user(i) for i in range(users)))
        elapsed = time.perf_counter() - began
    return elapsed, latencies, failures


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def measure(kind: str, args: argparse.Namespace, issuer: TokenIssuer, double_url: str) -> dict[str, float]:
    port = free_port()
    command = [sys.executable, "bench/serve.py", kind, "--port", str(port), "--app-id", issuer.app_id,
               "--tenant", DEFAULT_TENANT_ID, "--metadata-url", issuer.metadata_url, "--issuer", issuer.issuer,
               "--database-url", args.database_url]
    process = start(command)
    try:
        await wait_http(f"http://127.0.0.1:{port}/api/messages")
        text = "hello" if kind == "echo" else "help"
        elapsed, latencies, failures = await load(f"http://127.0.0.1:{port}/api/messages", double_url, issuer,
                                                  args.users, args.turns_per_user, text)
    finally:
        process.terminate()
        process.wait(timeout=10)
    return {"turns_per_s": len(latencies) / elapsed, "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * percentile(latencies, 0.99), "failures": failures, "turns": len(latencies)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--turns-per-user", type=int, default=20)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--runs", type=int, default=3, help="rounds, each measuring all three; medians printed")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="hny-bench-")
    if not args.database_url:
        args.database_url = f"sqlite+aiosqlite:///{workdir}/bench.db"
    await asyncio.to_thread(upgrade_sync, args.database_url)  # the bot refuses an unmigrated database

    double_port = free_port()
    double = start([sys.executable, "-m", "tests.doubles.teams", "--port", str(double_port), "--global-limit", "0",
                    "--no-limits"])
    issuer = TokenIssuer().start()
    kinds = ("echo", "agents", "botbuilder")
    rounds: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    try:
        double_url = f"http://127.0.0.1:{double_port}/uk/"
        await wait_http(f"http://127.0.0.1:{double_port}/_double/stats")
        for number in range(args.runs):
            # Alternating order within one sitting, so a slow minute on a shared machine hits each alike.
            for kind in kinds if number % 2 == 0 else tuple(reversed(kinds)):
                rounds[kind].append(await measure(kind, args, issuer, double_url))
    finally:
        issuer.stop()
        double.terminate()
        double.wait(timeout=10)

    print(f"machine: {os.cpu_count()} cores; {args.users} concurrent users x {args.turns_per_user} turns; "
          f"database {args.database_url.split(':')[0]}; median of {args.runs} runs")
    names = {"agents": "HNY bot, Agents SDK", "botbuilder": "HNY bot, botbuilder", "echo": "bare botbuilder echo"}
    medians: dict[str, dict[str, float]] = {}
    for kind in kinds:
        figures = {key: statistics.median(run[key] for run in rounds[kind]) for key in rounds[kind][0]}
        medians[kind] = figures
        each = " ".join(f"{run['turns_per_s']:.1f}" for run in rounds[kind])
        print(f"{names[kind]:22s} {figures['turns_per_s']:7.1f} turns/s  p50 {figures['p50_ms']:6.1f} ms  "
              f"p99 {figures['p99_ms']:6.1f} ms  failures {int(sum(run['failures'] for run in rounds[kind]))}"
              f"  (runs: {each})")
    for kind in ("agents", "botbuilder"):
        ratio = medians[kind]["turns_per_s"] / medians["echo"]["turns_per_s"]
        print(f"ratio ({names[kind]} / echo) turns/s: {ratio:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
