"""The publishing side of the company benchmark: metric events to NATS JetStream, each stamped
with ``sentAt`` just before it is sent, companies in turn.

``--rate R --seconds S``: R a second for S seconds (in 10 ms ticks), each publish acknowledged
by JetStream (``js.publish``), as a product's services would. ``--count N``: N as fast as the
connection takes them (core publishes into the stream's subjects, one flush at the end).
Prints ``{"sent": n, "seconds": s, "first": t0, "last": t1}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time


async def main(args) -> dict:
    import nats

    companies = args.companies.split(",")
    nc = await nats.connect(args.url)
    js = nc.jetstream()
    sent, first = 0, time.time()
    if args.count:
        for n in range(args.count):
            company = companies[n % len(companies)]
            body = {"companyId": company, "metricName": "m", "value": n, "seq": n,
                    "sentAt": time.time()}
            await nc.publish("metrics.calculated", json.dumps(body).encode())
            sent += 1
        await nc.flush(timeout=60)
    else:
        tick = 0.01
        loop = asyncio.get_running_loop()
        start = loop.time()
        total = int(args.rate * args.seconds)
        while sent < total:
            due = min(total, int((loop.time() - start + tick) * args.rate))
            while sent < due:  # what is due by the end of this tick
                company = companies[sent % len(companies)]
                body = {"companyId": company, "metricName": "m", "value": sent, "seq": sent,
                        "sentAt": time.time()}
                await js.publish("metrics.calculated", json.dumps(body).encode())
                sent += 1
            wake = start + (round((loop.time() - start) / tick) + 1) * tick
            await asyncio.sleep(max(0.0, wake - loop.time()))
    last = time.time()
    await nc.close()
    return {"sent": sent, "seconds": last - first, "first": first, "last": last}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--companies", required=True)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--count", type=int, default=0)
    print(json.dumps(asyncio.run(main(parser.parse_args()))), flush=True)
