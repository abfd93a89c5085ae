import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from history.models import Run
from tests.factories import JobFactory


@pytest.mark.django_db
def test_it_rejects_a_second_run_for_the_same_slot_and_attempt():
    job = JobFactory()
    slot = timezone.now().replace(microsecond=0)
    Run.objects.create(job=job, team=job.team, scheduled_for=slot, attempt=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Run.objects.create(job=job, team=job.team, scheduled_for=slot, attempt=1)
    assert Run.objects.filter(job=job).count() == 1


@pytest.mark.django_db
def test_it_accepts_the_next_attempt_of_the_same_slot():
    job = JobFactory()
    slot = timezone.now().replace(microsecond=0)
    first = Run.objects.create(job=job, team=job.team, scheduled_for=slot, attempt=1)
    Run.objects.create(job=job, team=job.team, scheduled_for=slot, attempt=2, retry_of=first)
    assert list(Run.objects.filter(job=job).order_by("attempt").values_list("attempt", flat=True)) == [1, 2]
