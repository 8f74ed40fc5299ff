#!/usr/bin/env python3
"""rtcount.py - where the time of a connection over a long link goes, seen
from the client's side: a proxy with no delay of its own, put between the
client and the delay line (bench/linkup.sh).

    rtcount.py LISTEN_PORT TARGET_HOST:TARGET_PORT

Each connection's chunks are timed as they pass.  When it closes one line
goes to stderr:

    rtcount: span S wait W waits N local L

span: first to last byte; wait: the silences in which the client had sent
and waited for the server (the last chunk before the gap went out, the
next came in): round trips the protocol waited for; waits: how many such
silences were longer than 100 ms; local: silences after a chunk came in
and before the client answered (its own work).  Gaps under 100 ms are not
counted (at 2 Mbit/s the line releases a 16 KiB chunk every 65 ms).
With RTCOUNT_TRACE=FILE every longer gap is appended to FILE (offset from
the first byte, its kind, its length).
"""
import asyncio, os, sys, time

GAP = 0.1


async def pump(reader, writer, events, tag):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            events.append((time.monotonic(), tag))
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    try:
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


def summary(events):
    events.sort()
    wait = local = 0.0
    waits = 0
    trace = os.environ.get("RTCOUNT_TRACE")
    for (t0, a), (t1, b) in zip(events, events[1:]):
        gap = t1 - t0
        if gap < GAP:
            continue
        if trace:
            with open(trace, "a") as f:
                print("%.3f %s>%s %.3f" % (t0 - events[0][0], a, b, gap),
                      file=f)
        if a == "out" and b == "in":
            wait += gap
            waits += 1
        elif a == "in" and b == "out":
            local += gap
    span = events[-1][0] - events[0][0] if events else 0.0
    return "rtcount: span %.3f wait %.3f waits %d local %.3f" % (
        span, wait, waits, local)


async def handle(cr, cw, target):
    host, port = target.rsplit(":", 1)
    try:
        tr, tw = await asyncio.open_connection(host, int(port))
    except OSError:
        cw.close()
        return
    events = []
    await asyncio.gather(pump(cr, tw, events, "out"),
                         pump(tr, cw, events, "in"))
    for w in (cw, tw):
        try:
            w.close()
        except (ConnectionError, OSError):
            pass
    print(summary(events), file=sys.stderr, flush=True)


async def main():
    port, target = int(sys.argv[1]), sys.argv[2]
    await asyncio.start_server(lambda r, w: handle(r, w, target),
                               "127.0.0.1", port)
    await asyncio.Event().wait()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    asyncio.run(main())
