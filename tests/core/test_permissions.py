"""core.permissions.TeamRole: what a view declares its actions need, checked on the object's team by role."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from rest_framework import exceptions
from rest_framework.test import APIRequestFactory, force_authenticate

from core.api import TeamScopedView
from jobs.roles import JOB_EDIT, JOB_READ
from tests.factories import JobFactory, MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


class Declared(TeamScopedView):
    required = {"GET": JOB_READ, "DELETE": JOB_EDIT}


class Undeclared(TeamScopedView):
    pass


def _check(view_class: type[TeamScopedView], method: str, user, obj) -> None:
    raw = getattr(APIRequestFactory(), method.lower())("/api/x")
    force_authenticate(raw, user=user)
    view = view_class()
    request = view.initialize_request(raw)
    view.request = request
    view.check_object_permissions(request, obj)


@pytest.fixture
def job():
    return JobFactory(team=TeamFactory())


def _member(job, role):
    return MembershipFactory(team=job.team, user=UserFactory(), role=role).user


def test_a_declared_action_passes_for_a_role_that_holds_it(job):
    _check(Declared, "GET", _member(job, "viewer"), job)
    _check(Declared, "DELETE", _member(job, "editor"), job)


def test_a_role_without_the_permission_is_refused_with_403(job):
    with pytest.raises(exceptions.PermissionDenied, match="job:edit"):
        _check(Declared, "DELETE", _member(job, "viewer"), job)


def test_an_outsider_is_told_nothing_exists(job):
    outsider = MembershipFactory(team=TeamFactory(), user=UserFactory(), role="admin").user
    with pytest.raises(exceptions.NotFound):
        _check(Declared, "GET", outsider, job)


def test_head_needs_what_get_needs(job):
    with pytest.raises(exceptions.NotFound):
        _check(Declared, "HEAD", UserFactory(), job)
    _check(Declared, "HEAD", _member(job, "viewer"), job)


def test_an_action_the_view_does_not_declare_fails_closed(job):
    admin = _member(job, "admin")
    with pytest.raises(ImproperlyConfigured, match="Undeclared"):
        _check(Undeclared, "GET", admin, job)
    with pytest.raises(ImproperlyConfigured, match="POST"):
        _check(Declared, "POST", admin, job)
