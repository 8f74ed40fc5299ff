#!/usr/bin/env python3
"""sharedline.py - one long, thin link shared by every connection through it.

    sharedline.py LISTEN_PORT TARGET_HOST:TARGET_PORT [--delay-ms 300]
                  [--kbit 2000] [--listen 127.0.0.1]

Like ../shared/tools/delayline.py (each byte leaves DELAY ms after it
arrived, each direction serialised at KBIT), except that the bandwidth
of each direction is one budget for all connections together, as on a
real link: twenty connections share the 2 Mbit/s instead of getting
2 Mbit/s each.  Chunks from all connections are serialised in the order
they arrived.  Prints the bytes each way per connection to stderr when
it ends.  Stops on SIGINT/SIGTERM.
"""
import argparse, asyncio, signal, time

CHUNK = 16384


class Link:
    """One direction of the link: when it is next free to serialise."""

    def __init__(self, bps):
        self.bps = bps
        self.free = 0.0

    def slot(self, arrived, n):
        self.free = max(self.free, arrived) + n * 8 / self.bps
        return self.free


async def pump(reader, writer, link, delay, count):
    queue = asyncio.Queue()

    async def sender():
        while True:
            item = await queue.get()
            if item is None:
                return
            due, data = item
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()

    task = asyncio.ensure_future(sender())
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            count[0] += len(data)
            due = link.slot(time.monotonic(), len(data)) + delay
            await queue.put((due, data))
    except (ConnectionError, OSError):
        pass
    await queue.put(None)
    try:
        await task
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


async def handle(creader, cwriter, args, up, down):
    host, port = args.target.rsplit(":", 1)
    try:
        treader, twriter = await asyncio.open_connection(host, int(port))
    except OSError as e:
        print("sharedline: cannot reach %s: %s" % (args.target, e),
              flush=True)
        cwriter.close()
        return
    delay = args.delay_ms / 1000.0
    sent, recv = [0], [0]
    await asyncio.gather(pump(creader, twriter, up, delay, sent),
                         pump(treader, cwriter, down, delay, recv))
    for w in (cwriter, twriter):
        try:
            w.close()
        except (ConnectionError, OSError):
            pass
    if not args.quiet:
        print("sharedline: %d bytes up, %d down" % (sent[0], recv[0]),
              flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("port", type=int)
    p.add_argument("target")
    p.add_argument("--listen", default="127.0.0.1")
    p.add_argument("--delay-ms", type=float, default=300.0)
    p.add_argument("--kbit", type=float, default=2000.0)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args()
    up, down = Link(args.kbit * 1000), Link(args.kbit * 1000)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(asyncio.start_server(
        lambda r, w: handle(r, w, args, up, down), args.listen, args.port))
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, loop.stop)
    try:
        loop.run_forever()
    finally:
        server.close()


if __name__ == "__main__":
    main()
