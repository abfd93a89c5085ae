"""The embedded filesystem broker never hands a consumer a half-written message."""

from __future__ import annotations

import os
import threading
import uuid

import pytest
from kombu import Connection, Exchange, Queue

from config.broker import RedisTransport, Transport

PAYLOAD = {"run_ids": ["x" * 36] * 100, "padding": "y" * 200_000}  # big enough to take a while to write


def test_filesystem_urls_use_the_atomic_transport(tmp_path):
    with Connection("filesystem://", transport_options=_options(tmp_path)) as conn:
        assert isinstance(conn.transport, Transport)


def _options(folder) -> dict:
    (folder / "q").mkdir(exist_ok=True)
    (folder / "c").mkdir(exist_ok=True)
    return {
        "data_folder_in": str(folder / "q"),
        "data_folder_out": str(folder / "q"),
        "control_folder": str(folder / "c"),
        "store_processed": False,
        "polling_interval": 0.01,
    }


def test_a_consumer_racing_a_producer_reads_every_message_whole(tmp_path):
    options = _options(tmp_path)
    count = 150
    received: list[dict] = []
    errors: list[BaseException] = []

    def consume() -> None:
        try:
            with Connection("filesystem://", transport_options=options) as conn:
                queue = conn.SimpleQueue("race")
                while len(received) < count:
                    message = queue.get(timeout=20)
                    received.append(message.payload)
                    message.ack()
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    consumer = threading.Thread(target=consume)
    consumer.start()
    with Connection("filesystem://", transport_options=options) as conn:
        queue = conn.SimpleQueue("race")
        for index in range(count):
            queue.put({**PAYLOAD, "index": index})
    consumer.join(60)

    assert errors == []
    assert sorted(p["index"] for p in received) == list(range(count))
    assert all(p["padding"] == PAYLOAD["padding"] for p in received)
    assert not list((tmp_path / "q").glob(".*.part"))


def test_processes_binding_at_once_keep_every_queue_and_never_read_a_torn_table(tmp_path):
    options = _options(tmp_path)
    shared = Exchange("shared", type="direct")
    names = [f"q{index}" for index in range(12)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(names))

    def bind(name: str) -> None:
        try:
            with Connection("filesystem://", transport_options=options) as conn:
                start.wait(10)
                Queue(name, shared, routing_key=name)(conn.default_channel).declare()
                conn.default_channel.get_table("shared")  # a reader racing the writers
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=bind, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    with Connection("filesystem://", transport_options=options) as conn:
        bound = {queue for _, _, queue in conn.default_channel.get_table("shared")}
    assert bound == set(names)


def test_threads_declaring_a_queue_at_once_in_one_process_lose_no_message(tmp_path):
    # kombu's process-global binding state says "bound" before the table file is written;
    # a thread that publishes in that window would route its message nowhere.
    options = _options(tmp_path)
    threads_per_round, rounds = 8, 10
    for round_ in range(rounds):
        name = f"bind{round_}"
        start = threading.Barrier(threads_per_round)

        def publish(name: str = name, start: threading.Barrier = start) -> None:
            with Connection("filesystem://", transport_options=options) as conn:
                start.wait(10)
                conn.SimpleQueue(name).put({"round": name})

        threads = [threading.Thread(target=publish) for _ in range(threads_per_round)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        stored = list((tmp_path / "q").glob(f"*.{name}.msg"))
        assert len(stored) == threads_per_round, f"round {round_}: {len(stored)} stored"


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (the PG+Redis pass runs it)")
def test_a_redis_channel_closed_after_its_connection_keeps_the_worker_alive():
    # Celery, on losing the broker, detaches the transport from its connection before closing
    # every channel. A channel holding an unacked message (an ETA task) used to raise
    # AttributeError from there, which stops the worker.
    with Connection(os.environ["REDIS_URL"]) as conn:
        assert isinstance(conn.transport, RedisTransport)
        channel = conn.channel()
        name = f"hourglass-test-{uuid.uuid4().hex}"
        queue = conn.SimpleQueue(name, channel=channel)
        tag = None
        try:
            queue.put({"eta": "later"})
            message = queue.get(timeout=5)  # delivered, not acknowledged
            tag = message.delivery_tag
            assert message.payload == {"eta": "later"}
            assert len(channel.qos._delivered) == 1
            conn._do_close_transport()
            channel.close()  # must not raise
            assert channel.closed
        finally:
            with Connection(os.environ["REDIS_URL"]) as cleanup:
                cleanup.SimpleQueue(name).queue.delete()
                client = cleanup.default_channel.client
                if tag is not None:  # the message Redis keeps for restoring: not for any other test
                    client.hdel("unacked", tag)
                    client.zrem("unacked_index", tag)
