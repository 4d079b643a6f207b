"""
What the slixmpp scenarios of the e2e tests share: a fresh event loop per
scenario with every client disconnected at the end, waiting for (or for
the absence of) a stanza in a client's queue, and disconnecting a client.
"""

import asyncio


class ScenarioTimeout(AssertionError):
    pass


def run_scenario(scenario, timeout=30):
    """Run scenario(clients) in a new event loop; clients is a list the
    scenario's client objects add themselves to (each has an async close());
    all are disconnected at the end."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    clients = []
    try:
        try:
            loop.run_until_complete(asyncio.wait_for(scenario(clients), timeout))
        except asyncio.TimeoutError:
            raise ScenarioTimeout('scenario did not finish in %d s' % timeout)
    finally:
        try:
            loop.run_until_complete(asyncio.wait_for(
                asyncio.gather(*(c.close() for c in clients), return_exceptions=True), 5))
        except Exception:
            pass
        for task in asyncio.all_tasks(loop):
            task.cancel()
        try:
            loop.run_until_complete(asyncio.sleep(0))
        except Exception:
            pass
        loop.close()
        asyncio.set_event_loop(None)


async def expect(queue, pred, what, timeout=5):
    """The first stanza in queue that satisfies pred; earlier ones that do
    not are dropped."""
    loop = asyncio.get_event_loop()
    deadline = loop.time() + timeout
    seen = []
    while True:
        left = deadline - loop.time()
        if left <= 0:
            raise AssertionError('never received %s; got instead: %s'
                                 % (what, [str(s)[:300] for s in seen][-5:]))
        try:
            st = await asyncio.wait_for(queue.get(), left)
        except asyncio.TimeoutError:
            continue
        if pred(st):
            return st
        seen.append(st)


async def expect_none(queue, pred, what, wait=1.0):
    """Fail if a stanza satisfying pred arrives within wait seconds."""
    loop = asyncio.get_event_loop()
    deadline = loop.time() + wait
    while True:
        left = deadline - loop.time()
        if left <= 0:
            return
        try:
            st = await asyncio.wait_for(queue.get(), left)
        except asyncio.TimeoutError:
            return
        if pred(st):
            raise AssertionError('unexpected %s: %s' % (what, str(st)[:500]))


async def close_client(x):
    """Disconnect a slixmpp client, or stop it trying to connect."""
    if x.transport is not None:
        try:
            await asyncio.wait_for(x.disconnect(wait=1), 3)
        except Exception:
            x.abort()
    else:
        x.cancel_connection_attempt()
