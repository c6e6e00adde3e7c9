"""Faults between real serve processes: a receiver down, a sender SIGKILLed mid-batch, a receiver
that stores a message but whose answer is lost. Each time: nothing lost, nothing doubled."""

from __future__ import annotations

from tests.system.conftest import (
    Cluster,
    assert_exactly_once,
    delivered_count,
    inbox,
    outbox,
    pin,
    seed_preservations,
    wait_for,
)

MANY = 200


def test_a_receiver_that_was_down_gets_all_200_messages_exactly_once(cluster: Cluster) -> None:
    vnm, aus = cluster.node("VNM"), cluster.node("AUS")
    vnm.start()
    aus.start()
    pin([vnm, aus])
    aus.stop()

    ids = seed_preservations(vnm, MANY)
    # every message has been tried, and refused, while AUS was down
    wait_for(lambda: all(m.attempts >= 1 and m.status == "pending" for m in outbox(vnm)), timeout=60,
             what="VNM to try every message while AUS is down")
    assert inbox(aus) == []

    aus.start()
    wait_for(lambda: delivered_count(vnm) == MANY, timeout=90, what=f"{MANY} messages to be delivered")
    assert_exactly_once(vnm, aus, ids)


def test_a_sender_killed_mid_batch_loses_and_doubles_nothing(cluster: Cluster) -> None:
    vnm, aus = cluster.node("VNM"), cluster.node("AUS", hold_after=1)
    proxy = cluster.proxy_of(aus)
    vnm.start()
    aus.start()
    pin([vnm, aus])
    vnm.stop()
    many = 2 * MANY
    ids = seed_preservations(vnm, many)

    # after one answered batch AUS's answers are withheld: VNM is mid-delivery, its posted batches
    # stored by AUS but not known to VNM as delivered, when it is killed
    vnm.start()
    wait_for(lambda: proxy.held > 0, timeout=60, what="VNM to post a batch whose answer is withheld")
    vnm.kill()
    received = len(inbox(aus))
    assert 0 < received < many, f"VNM was killed after delivering {received} of {many}: not mid-delivery"

    proxy.release()
    vnm.start()
    wait_for(lambda: delivered_count(vnm) == many, timeout=90, what=f"{many} messages to be delivered")
    assert_exactly_once(vnm, aus, ids)


def test_a_receiver_whose_answers_are_lost_stores_each_message_once(cluster: Cluster) -> None:
    lost = 5
    vnm, aus = cluster.node("VNM"), cluster.node("AUS", drop=lost)
    proxy = cluster.proxy_of(aus)
    vnm.start()
    aus.start()
    pin([vnm, aus])
    count = 30
    ids = seed_preservations(vnm, count)

    wait_for(lambda: delivered_count(vnm) == count, timeout=60, what=f"{count} messages to be delivered")
    assert proxy.dropped == lost
    assert proxy.inbox_posts > lost  # every lost answer was followed by a resend
    resent = [m for m in outbox(vnm) if m.attempts > 0]
    assert resent, "no answer was lost for a message that reached AUS"
    assert_exactly_once(vnm, aus, ids)  # yet AUS stored each message once: the resends were deduplicated
