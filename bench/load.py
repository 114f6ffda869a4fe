"""Bounded HTTP load on loopback: ``wrk`` when installed, else a small asyncio client.

Both run in a separate process from the server under test, keep connections
alive, rotate over a list of paths, send the same headers on every request (the
session cookie), stop after a fixed duration and report requests/s and latency
percentiles in the same shape (:class:`LoadResult`). Only 127.0.0.1 is ever a
target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

LOOPBACK = "127.0.0.1"
_MARK = "BENCH_JSON "


@dataclass(frozen=True, slots=True)
class LoadResult:
    tool: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx answers, socket errors and timeouts

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def pick_tool(preference: str = "auto") -> str:
    if preference == "python":
        return "python"
    if shutil.which("wrk"):
        return "wrk"
    if preference == "wrk":
        raise RuntimeError("wrk is not installed (apt-get install -y wrk)")
    return "python"


def run_load(
    base_url: str,
    paths: list[str],
    *,
    duration: float,
    connections: int,
    tool: str,
    headers: Mapping[str, str],
) -> LoadResult:
    """Drive ``base_url`` for ``duration`` seconds with ``connections`` keep-alive connections."""
    if urlsplit(base_url).hostname != LOOPBACK:
        raise ValueError(f"load is only ever sent to {LOOPBACK}, not {base_url}")
    header_lines = [f"{name}: {value}" for name, value in headers.items()]
    if tool == "wrk":
        return _run_wrk(base_url, paths, duration, connections, header_lines)
    return _run_python(base_url, paths, duration, connections, header_lines)


# --- wrk -------------------------------------------------------------------------------------

# wrk.format without headers sends wrk.headers: the ones given with -H.
_LUA = """
local paths = {%(paths)s}
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n %% #paths) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "%(mark)s{\\"requests\\": %%d, \\"duration_us\\": %%d, \\"p50_us\\": %%d, \\"p99_us\\": %%d, "
    .. "\\"errors\\": %%d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def _run_wrk(
    base_url: str, paths: list[str], duration: float, connections: int, header_lines: list[str]
) -> LoadResult:
    lua = _LUA % {"paths": ", ".join(json.dumps(p) for p in paths), "mark": _MARK}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua)
    try:
        completed = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(duration))}s",
                "--timeout",
                "5s",
                *(arg for line in header_lines for arg in ("-H", line)),
                "-s",
                script.name,
                base_url,
            ],
            capture_output=True,
            text=True,
            timeout=duration + 60,
            check=True,
        )
    finally:
        Path(script.name).unlink(missing_ok=True)
    return _result("wrk", completed.stdout)


def _result(tool: str, stdout: str) -> LoadResult:
    """The figures a load tool printed on its marked line (both tools print the same)."""
    for line in stdout.splitlines():
        if line.startswith(_MARK):
            data = json.loads(line[len(_MARK) :])
            return LoadResult(
                tool=tool,
                requests=data["requests"],
                seconds=data["duration_us"] / 1e6,
                p50_ms=data["p50_us"] / 1000,
                p99_ms=data["p99_us"] / 1000,
                errors=data["errors"],
            )
    raise RuntimeError(f"the load tool printed no result:\n{stdout}")


# --- the asyncio client (no wrk) --------------------------------------------------------------


def _run_python(
    base_url: str, paths: list[str], duration: float, connections: int, header_lines: list[str]
) -> LoadResult:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.load",
            *(arg for line in header_lines for arg in ("--header", line)),
            base_url,
            str(duration),
            str(connections),
            *paths,
        ],
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=True,
    )
    return _result("python", completed.stdout)


async def _connection(
    host: str,
    port: int,
    requests: list[bytes],
    start: int,
    deadline: float,
    out: list[float],
) -> int:
    """One keep-alive connection issuing GETs back to back; returns its error count."""
    errors = 0
    reader, writer = await asyncio.open_connection(host, port)
    i = start
    try:
        while time.perf_counter() < deadline:
            request = requests[i % len(requests)]
            i += 1
            began = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            out.append(time.perf_counter() - began)
            if head[9:10] != b"2":
                errors += 1
    finally:
        writer.close()
    return errors


async def _client(
    base_url: str, duration: float, connections: int, paths: list[str], header_lines: list[str]
) -> None:
    parts = urlsplit(base_url)
    host, port = parts.hostname or LOOPBACK, parts.port or 80
    head = "".join(f"{line}\r\n" for line in [f"Host: {host}:{port}", *header_lines])
    requests = [f"GET {path} HTTP/1.1\r\n{head}\r\n".encode() for path in paths]
    latencies: list[float] = []
    began = time.perf_counter()
    deadline = began + duration
    step = max(1, len(paths) // connections)
    counts = await asyncio.gather(
        *(
            _connection(host, port, requests, c * step, deadline, latencies)
            for c in range(connections)
        ),
        return_exceptions=True,
    )
    elapsed = time.perf_counter() - began
    errors = sum(c if isinstance(c, int) else 1 for c in counts)
    latencies.sort()

    def pct(q: float) -> int:
        if not latencies:
            return 0
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e6)

    result = {
        "requests": len(latencies),
        "duration_us": round(elapsed * 1e6),
        "p50_us": pct(0.50),
        "p99_us": pct(0.99),
        "errors": errors,
    }
    print(_MARK + json.dumps(result), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.load")
    parser.add_argument("--header", action="append", default=[], help="'Name: value'")
    parser.add_argument("url")
    parser.add_argument("seconds", type=float)
    parser.add_argument("connections", type=int)
    parser.add_argument("paths", nargs="+")
    cli = parser.parse_args()
    if urlsplit(cli.url).hostname != LOOPBACK:
        raise SystemExit(f"load is only ever sent to {LOOPBACK}")
    asyncio.run(_client(cli.url, cli.seconds, cli.connections, cli.paths, cli.header))
