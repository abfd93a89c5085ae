"""The admin says why a running run cannot be deleted, returns to the list after a delete, shows times to the
second and spells its models right."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from history.models import Run
from tests.factories import RunFactory, UserFactory


@pytest.fixture
def staff_editor(editor):
    editor.is_staff = True
    editor.save(update_fields=["is_staff"])
    return editor


def test_deleting_a_running_run_says_why_it_cannot_be(client, staff_editor, running_run):
    client.force_login(staff_editor)
    url = reverse("admin:history_run_delete", args=[running_run.pk])
    for response in (client.get(url), client.post(url, {"post": "yes"})):
        body = response.content.decode()
        assert response.status_code == 403
        assert "This run is running: a run can be deleted once it has ended. Cancel it first" in body
        assert "does not allow it" not in body
    assert Run.objects.filter(pk=running_run.pk).exists()


def test_a_viewer_is_still_told_it_is_their_role(client, viewer, running_run):
    viewer.is_staff = True
    viewer.save(update_fields=["is_staff"])
    client.force_login(viewer)
    body = client.get(reverse("admin:history_run_delete", args=[running_run.pk])).content.decode()
    assert "Cancel it first" not in body


def test_after_a_delete_it_returns_to_the_list(client, staff_editor, ended_run):
    client.force_login(staff_editor)
    changelist = reverse("admin:history_run_changelist")
    response = client.post(
        reverse("admin:history_run_delete", args=[ended_run.pk]) + "?_changelist_filters=status%3Dended",
        {"post": "yes"},
    )
    assert response.status_code == 302
    assert response["Location"] == f"{changelist}?status=ended"
    assert not Run.objects.filter(pk=ended_run.pk).exists()


def test_it_shows_times_to_the_second(client, staff_editor, job):
    run = RunFactory(job=job, started_at=datetime(2026, 3, 1, 10, 15, 7, tzinfo=UTC))
    client.force_login(staff_editor)
    listing = client.get(reverse("admin:history_run_changelist")).content.decode()
    assert "2026-03-01 10:15:07 UTC" in listing
    page = client.get(reverse("admin:history_run_change", args=[run.pk])).content.decode()
    assert "2026-03-01 10:15:07 UTC" in page


def test_it_spells_audit_entries(client, db):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    body = client.get(reverse("admin:index")).content.decode()
    assert "Audit entries" in body
    assert "Audit entrys" not in body
