from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from history.models import Run
from jobs.models import Job, JobStep, Membership, Team


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password("password")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"team{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    team = factory.SubFactory(TeamFactory)
    user = factory.SubFactory(UserFactory)
    role = "viewer"


class JobFactory(factory.django.DjangoModelFactory):
    """A cron job with one HTTP step; `url` sets the step's URL."""

    class Meta:
        model = Job
        skip_postgeneration_save = True

    team = factory.SubFactory(TeamFactory)
    natural_id = factory.Sequence(lambda n: f"job-{n}")
    name = factory.LazyAttribute(lambda o: o.natural_id)
    schedule_kind = "cron"
    cron_expression = "* * * * *"
    timezone = "UTC"

    @factory.post_generation
    def url(self, create: bool, extracted: str | None, **kwargs: object) -> None:
        if create:
            JobStep.objects.create(
                job=self,
                name="main",
                kind="http",
                position=0,
                config={
                    "method": "GET",
                    "url": extracted or "http://127.0.0.1:9/",
                    "headers": {},
                    "body": "",
                    "timeout_ms": 30000,
                },
            )


class RunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Run

    job = factory.SubFactory(JobFactory)
    team = factory.LazyAttribute(lambda o: o.job.team)
    scheduled_for = factory.LazyFunction(timezone.now)
    status = "ended"
    end_reason = "success"
