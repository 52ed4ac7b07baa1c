"""Process bodies of the cross-process key-space tests (imported by spawned children, so this
module imports nothing but sheaf and the standard library)."""

from __future__ import annotations

import time

import sheaf
from sheaf import Mode


def key_name(i: int) -> str:
    return f"key-{i:06d}"


def racer(uri, space, n_keys, racer_id, out_path, ready, go, chunk):
    """NEW_ONLY puts of key-000000.. like the C sheaf_kv_racer; writes "<key> won|lost".

    ``chunk == 1``: one ``put`` per key, a loss must be exactly ``KeyExistsError``; otherwise
    ``put_multi`` in chunks, a loss is a ``False`` in its per-key result.
    """
    with sheaf.open(uri) as store:
        kv = store.kv(space)
        ready.set()
        go.wait(30)
        value = str(racer_id).encode()
        lines = []
        if chunk == 1:
            for i in range(n_keys):
                key = key_name(i)
                try:
                    kv.put(key, value, Mode.NEW_ONLY)
                    lines.append(f"{key} won")
                except sheaf.KeyExistsError:
                    lines.append(f"{key} lost")
        else:
            for first in range(0, n_keys, chunk):
                keys = [key_name(i) for i in range(first, min(first + chunk, n_keys))]
                for key, won in zip(keys, kv.put_multi(keys, [value] * len(keys), Mode.NEW_ONLY)):
                    lines.append(f"{key} {'won' if won else 'lost'}")
        with open(out_path, "w") as f:
            f.write("\n".join(lines) + "\n")


def producer(uri, space, control, n_items, batch, go):
    """Fills the queue with item-000000.. (values = keys) in batches, then puts control/done."""
    with sheaf.open(uri) as store:
        kv = store.kv(space)
        go.wait(30)
        for first in range(0, n_items, batch):
            items = [f"item-{i:06d}" for i in range(first, min(first + batch, n_items))]
            kv.put_multi(items, items)
        store.kv(control).put("done", b"1")


def consumer(uri, space, control, out_path, page, ready, go):
    """Pops with list_keyvals(CONSUME) until the producer is done and the queue is empty, like
    the C sheaf_kv_consumer; writes one popped value per line."""
    popped = []
    with sheaf.open(uri) as store:
        kv = store.kv(space)
        ctl = store.kv(control)
        ready.set()
        go.wait(30)
        done_seen = False
        while True:
            batch = kv.list_keyvals(count=page, mode=Mode.CONSUME)
            popped.extend(v.decode() for _, v in batch)
            if batch:
                continue
            if done_seen:
                break
            if ctl.exists("done"):
                done_seen = True
            else:
                time.sleep(0.001)
    with open(out_path, "w") as f:
        f.write("".join(v + "\n" for v in popped))
