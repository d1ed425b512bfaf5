#!/usr/bin/env python3
"""Holds N idle keep-alive client connections on the proxy and reports its RSS.

Each connection sends one request (so it is a real, used keep-alive
connection), reads the answer, then stays open and idle. Prints the proxy's
RSS before and while the connections are held, and how many are still open
after the hold. Loopback only; bounded in count and time.

    python3 bench/idle-connections.py --pid PID --port 18083 [--count 10000] [--hold 10]
"""
import argparse, asyncio, resource, sys


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise SystemExit(f"no process {pid}")


async def open_one(port, path):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    length = next((int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")), 0)
    await reader.readexactly(length)
    return reader, writer


async def main():
    args = argparse.ArgumentParser()
    args.add_argument("--pid", type=int, required=True)
    args.add_argument("--port", type=int, required=True)
    args.add_argument("--count", type=int, default=10_000)
    args.add_argument("--hold", type=float, default=10.0)
    args.add_argument("--path", default="/api/coupons/42")
    a = args.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, a.count + 1024), hard))
    before = rss_mib(a.pid)
    conns = []
    for start in range(0, a.count, 500):
        batch = [open_one(a.port, a.path) for _ in range(start, min(a.count, start + 500))]
        conns += await asyncio.gather(*batch)
    held = rss_mib(a.pid)
    await asyncio.sleep(a.hold)
    after = rss_mib(a.pid)
    open_now = sum(1 for reader, _ in conns if not reader.at_eof())
    print(f"connections={len(conns)} rss_before={before:.1f}MiB rss_held={held:.1f}MiB "
          f"rss_after_{a.hold:.0f}s={after:.1f}MiB still_open={open_now}")
    for _, writer in conns:
        writer.close()


asyncio.run(main())
