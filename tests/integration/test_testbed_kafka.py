"""What the service needs from Kafka, proven against the test broker over the network."""

from __future__ import annotations

import uuid
from collections import defaultdict

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic


async def consume(consumer: AIOKafkaConsumer, count: int) -> list[ConsumerRecord[bytes, bytes]]:
    received: list[ConsumerRecord[bytes, bytes]] = []
    while len(received) < count:
        batches = await consumer.getmany(timeout_ms=1000)
        for records in batches.values():
            received.extend(records)
    return received


async def test_keyed_messages_stay_in_order_and_committed_offsets_are_honoured(
    kafka_bootstrap_servers: str,
) -> None:
    topic, group = f"proof-{uuid.uuid4().hex[:8]}", f"group-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap_servers)
    await admin.start()
    await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    await admin.close()

    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap_servers, enable_idempotence=True, acks="all"
    )
    await producer.start()
    for n in range(1000):
        await producer.send(topic, key=f"booking-{n % 20}".encode(), value=str(n).encode())
    await producer.flush()

    first = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap_servers, group_id=group,
        auto_offset_reset="earliest", enable_auto_commit=False,
    )
    await first.start()
    received = await consume(first, 1000)
    await first.commit()
    await first.stop()

    assert sorted(int(r.value) for r in received) == list(range(1000))
    by_key: dict[bytes, list[int]] = defaultdict(list)
    partitions: dict[bytes, set[int]] = defaultdict(set)
    for record in received:
        assert record.key is not None
        by_key[record.key].append(int(record.value))
        partitions[record.key].add(record.partition)
    assert all(values == sorted(values) for values in by_key.values())
    assert all(len(p) == 1 for p in partitions.values())
    assert len({p for ps in partitions.values() for p in ps}) == 3

    for n in range(1000, 1010):
        await producer.send(topic, key=f"booking-{n % 20}".encode(), value=str(n).encode())
    await producer.flush()
    await producer.stop()

    second = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap_servers, group_id=group,
        auto_offset_reset="earliest", enable_auto_commit=False,
    )
    await second.start()
    later = await consume(second, 10)
    assert await second.getmany(timeout_ms=500) == {}
    await second.stop()
    assert sorted(int(r.value) for r in later) == list(range(1000, 1010))
