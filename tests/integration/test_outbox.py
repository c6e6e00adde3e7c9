"""The outbox on every backend: claims are leased and never shared between workers."""

from __future__ import annotations

import datetime as dt
import threading

from hcx.services import delivery
from tests.conftest import World


def fill(world: World, count: int) -> None:
    now = world.clock.now()
    with world.ctx.unit_of_work() as uow:
        uow.add_peer(party="AUS", url="http://aus.test", node_key=b"k" * 32, descriptor={}, descriptor_version=1,
                     expires_at=now + dt.timedelta(days=30), pinned_at=now, refreshed_at=now)
        for _ in range(count):
            uow.add_outbox(id=world.ctx.new_id(), peer_party="AUS", request_id=None, type="request.event",
                           wire=b"{}", digest="sha256:" + "0" * 64, status="pending", attempts=0,
                           next_attempt_at=now, lease_until=None, created_at=now, delivered_at=None,
                           last_error="", receipt=None)
        uow.commit()


def test_a_claimed_message_is_not_claimed_again_until_its_lease_runs_out(world: World) -> None:
    fill(world, 5)
    first = delivery.claim(world.ctx, limit=3)
    second = delivery.claim(world.ctx, limit=10)
    assert len(first) == 3 and len(second) == 2
    assert not {m.id for m in first} & {m.id for m in second}
    assert delivery.claim(world.ctx) == []
    world.clock.advance(seconds=61)
    assert len(delivery.claim(world.ctx)) == 5


def test_concurrent_workers_share_the_outbox_without_overlap(world: World) -> None:
    fill(world, 60)
    claimed: list[list[str]] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        barrier.wait()
        claimed.append([m.id for m in delivery.claim(world.ctx, limit=20)])

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    ids = [i for batch in claimed for i in batch]
    assert len(ids) == len(set(ids)) == 60
