"""Fallback load generator for runtime_bench.py when wrk is not installed.

    python benchmarks/loadgen.py http://127.0.0.1:8000 --seconds 10 --connections 50 < paths

Keep-alive HTTP/1.1 GETs over raw asyncio streams (httpx would cost the client more CPU
than the server on a 2-core machine), cycling through the paths read from stdin, one
request in flight per connection. Prints one JSON object like runtime_bench.parse_wrk.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from urllib.parse import urlsplit


async def connection(host, port, paths, offset, deadline, budget, latencies, errors, broken):
    reader, writer = await asyncio.open_connection(host, port)
    i = offset
    try:
        while time.monotonic() < deadline and budget[0] > 0:
            budget[0] -= 1
            path = paths[i % len(paths)]
            i += 1
            started = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if not 200 <= status < 400:
                errors[0] += 1
    except (OSError, asyncio.IncompleteReadError):
        broken[0] += 1
    finally:
        writer.close()


async def main_async(args, paths):
    url = urlsplit(args.base)
    latencies: list[float] = []
    errors, broken, budget = [0], [0], [args.max_requests]
    started = time.monotonic()
    deadline = started + args.seconds
    await asyncio.gather(*(connection(url.hostname, url.port, paths, n * 7, deadline, budget,
                                      latencies, errors, broken) for n in range(args.connections)))
    elapsed = time.monotonic() - started
    latencies.sort()
    pick = lambda q: 1e3 * latencies[min(len(latencies) - 1, int(q * len(latencies)))]  # noqa: E731
    return {"requests": len(latencies), "elapsed_s": elapsed, "rps": len(latencies) / elapsed,
            "p50_ms": pick(0.50), "p99_ms": pick(0.99), "errors": errors[0], "socket_errors": broken[0]}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--max-requests", type=int, default=200_000)
    args = parser.parse_args()
    if not args.base.startswith("http://127.0.0.1:"):
        parser.error("loads only 127.0.0.1")
    paths = [line.strip() for line in sys.stdin if line.strip()]
    print(json.dumps(asyncio.run(main_async(args, paths))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
