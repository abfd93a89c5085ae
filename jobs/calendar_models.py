"""Calendars: a team's named sets of days and hours (public holidays, dates, weekly windows), and how a job
uses them. The rules are jobs.calendars'; these rows only store them."""

from __future__ import annotations

import uuid

from django.db import models


class Calendar(models.Model):
    """A team-level calendar. Jobs attach it (JobCalendar) to skip the slots inside it, or to run only there."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey("jobs.Team", on_delete=models.CASCADE, related_name="calendars")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, default="")
    # [{"country": "DE", "subdivision": "BY"}]: the public holidays of each (the `holidays` package).
    holidays = models.JSONField(default=list, blank=True)
    # ["2026-12-24", "2026-12-27/2026-12-31"]: days, and inclusive ranges of days.
    dates = models.JSONField(default=list, blank=True)
    # [{"days": ["sun"], "start": "02:00", "end": "04:00", "timezone": "Europe/Berlin"}]; "" is the job's zone.
    windows = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["team", "name"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="calendar_team_name_unique")]

    def __str__(self) -> str:
        return self.name


class JobCalendar(models.Model):
    """A calendar attached to a job, with the mode that says what it does to the job's slots."""

    class Mode(models.TextChoices):
        EXCLUDE = "exclude", "Skip slots inside it"
        ONLY = "only", "Run only inside it"

    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="calendar_links")
    # RESTRICT: a calendar in use cannot be deleted on its own, but goes with its team.
    calendar = models.ForeignKey(Calendar, on_delete=models.RESTRICT, related_name="job_links")
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.EXCLUDE)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["job", "position"]
        constraints = [models.UniqueConstraint(fields=["job", "calendar"], name="jobcalendar_job_calendar_unique")]

    def __str__(self) -> str:
        return f"{self.job_id}: {self.mode} {self.calendar_id}"
