"""Two clients sending overlapping batches at the same moment, really in parallel: a threaded
live server, one PostgreSQL connection per request. Every record ends up once, with the latest
values, and the rollups equal the records."""

import json
import threading
import urllib.request

import pytest
from django.db.models import Sum

from core.roles import Role
from core.testing import bearer_header, build_role_world
from usage.models import DailyRollup, UsageKey, UsageRecord, UsageRecordVersion

from .factories import record, world

pytestmark = pytest.mark.django_db(transaction=True)

SHARED_SAME = range(3000, 4500)  # both clients send these with the same values
SHARED_DIFFERENT = range(4500, 6000)  # both send these, with different output_tokens


def batch_for(client: str, keys) -> list[dict]:
    out = []
    for i in keys:
        output = 500 + i
        if i in SHARED_DIFFERENT:
            output += 1 if client == "a" else 2
        out.append(record(i % 200, external_id=f"req-{i}", output_tokens=output, input_tokens=i))
    return out


def test_overlapping_batches_in_parallel(live_server):
    world()
    users = build_role_world().users
    auth = bearer_header(users[Role.SERVICE], scope="ingest", sources=["gw"])
    plans = {"a": batch_for("a", range(0, 6000)), "b": batch_for("b", range(3000, 9000))}
    answers: dict[str, list] = {"a": [], "b": []}
    errors: list[Exception] = []
    barrier = threading.Barrier(2)

    def client(name: str) -> None:
        try:
            barrier.wait()
            batch = plans[name]
            for start in range(0, len(batch), 1500):
                request = urllib.request.Request(
                    f"{live_server.url}/api/v1/usage/records",
                    data=json.dumps(batch[start : start + 1500]).encode(),
                    headers={"Authorization": auth, "Content-Type": "application/json"},
                    method="POST",
                )
                with urllib.request.urlopen(request, timeout=120) as response:
                    answers[name].append(json.loads(response.read()))
        except Exception as exc:  # report any failure from the thread
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors

    totals = {
        k: sum(a[k] for answer in answers.values() for a in answer)
        for k in ("accepted", "duplicates", "restated", "rejected")
    }
    assert totals == {
        "accepted": 9000,
        "duplicates": len(SHARED_SAME),
        "restated": len(SHARED_DIFFERENT),
        "rejected": 0,
    }
    assert UsageRecord.objects.count() == UsageKey.objects.count() == 9000
    assert UsageRecord.objects.values("external_id").distinct().count() == 9000
    # a key sent twice with different values holds one of them, as version 2, the other in history
    for stored in UsageRecord.objects.filter(external_id__in=[f"req-{i}" for i in SHARED_DIFFERENT]):
        i = int(stored.external_id[4:])
        assert stored.output_tokens in (500 + i + 1, 500 + i + 2) and stored.version == 2
    assert UsageRecordVersion.objects.count() == len(SHARED_DIFFERENT)
    for field in ("input_tokens", "output_tokens"):
        assert DailyRollup.objects.aggregate(s=Sum(field))["s"] == UsageRecord.objects.aggregate(s=Sum(field))["s"]
    assert DailyRollup.objects.aggregate(s=Sum("records"))["s"] == 9000
