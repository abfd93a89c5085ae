"""Reads on runs, shared by every API dialect and the dashboard: filtering, ordering, paging, counts.

Every query starts from the teams where the caller holds job:read and never joins memberships,
so a job's history is an index range scan on (job, -created_at, -id) and the cross-team list on
(team, -created_at, -id). Dialects translate their parameter names into RunFilter's and an
Ordering, then call run_list + run_page; they never build queries of their own. Ordering and
keyset paging live in history.paging and are re-exported here.
"""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import connection
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Sum, Window
from django.db.models.functions import Coalesce, RowNumber
from django.http import QueryDict

from history import stats as history_stats
from history.models import UNSUCCESSFUL_REASONS, Run, RunHourly
from history.paging import (  # noqa: F401 - re-exported: callers take every read from this module
    KEYSET_FIELDS,
    Cursor,
    Ordering,
    Page,
    run_export_iter,
    run_page,
    with_details,
)
from history.stats import run_stats  # noqa: F401 - re-exported, as above
from jobs.access import Actor
from jobs.models import Job
from jobs.roles import JOB_READ

# Counting millions of rows would cost more than the page itself; past this, `total` is a floor.
COUNT_CAP = 10_000
# A filtered or searched list counts to a lower cap: its matches are spread through the index it
# walks, so finding 10,001 of them reads far more rows than the page (a search matching 6 % of a
# team's runs: about 166,000 rows, ten times the page's cost). Past it, `total` reads 1000+.
FILTERED_COUNT_CAP = 1_000
SEARCH_COLUMNS = ("run_name", "error", "response_body")  # what `q` matches, case-insensitively


class IntegerFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField  # type: ignore[assignment]  # the stub allows only NumberFilter's DecimalField


class UtcDateTimeField(django_filters.fields.IsoDateTimeField):
    """Any UTC offset Python accepts, turned into UTC: PostgreSQL refuses offsets past ±15:59."""

    def to_python(self, value: Any) -> datetime | None:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise ValidationError("This time is out of range.", code="invalid") from None


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


class RunFilter(django_filters.FilterSet):
    """The history filters, named as the primary API names them."""

    status = django_filters.ChoiceFilter(choices=Run.Status.choices)
    endReason = django_filters.ChoiceFilter(field_name="end_reason", choices=Run.EndReason.choices)
    triggeredBy = django_filters.ChoiceFilter(field_name="triggered_by", choices=Run.Trigger.choices)
    success = django_filters.ChoiceFilter(choices=[("true", "true"), ("false", "false")], method="filter_success")
    httpStatus = django_filters.CharFilter(
        method="filter_http_status",
        validators=[RegexValidator(r"^[1-5]([0-9]{2}|xx)$", "Give a status code such as 503 or a class such as 5xx.")],
    )
    createdAfter = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    createdBefore = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")
    attempt = IntegerFilter(min_value=1, max_value=32767)
    q = django_filters.CharFilter(method="filter_q", max_length=200)
    job = django_filters.CharFilter(method="filter_job", max_length=100)

    class Meta:
        model = Run
        fields: list[str] = []

    def filter_success(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        succeeded = Q(status=Run.Status.ENDED, end_reason=Run.EndReason.SUCCESS)
        return queryset.filter(succeeded) if value == "true" else queryset.exclude(succeeded)

    def filter_http_status(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value.endswith("xx"):
            low = int(value[0]) * 100
            return queryset.filter(http_status__gte=low, http_status__lt=low + 100)
        return queryset.filter(http_status=int(value))

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        matches = Q()
        for column in SEARCH_COLUMNS:
            matches |= Q(**{f"{column}__icontains": value})
        return queryset.filter(matches)

    def filter_job(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        condition = Q(natural_id=value)
        try:
            condition |= Q(pk=uuid.UUID(value))
        except ValueError:
            pass
        return queryset.filter(job_id__in=Job.objects.filter(condition).values("pk"))


# Filters whose values are a choice, a pattern, a time or a number: given empty, the caller meant something
# that cannot be filtered on, so it is refused rather than ignored (q and job, free text, may be empty).
STRICT_FILTERS: tuple[str, ...] = (
    "status",
    "endReason",
    "triggeredBy",
    "success",
    "httpStatus",
    "createdAfter",
    "createdBefore",
)
STRICT_FILTERS += ("attempt",)


def empty_filters(data: Mapping[str, Any], names: tuple[str, ...] = STRICT_FILTERS) -> dict[str, list[str]]:
    """{name: [message]} for each of `names` given with an empty value."""
    return {name: ["Give a value, or leave the parameter out."] for name in names if data.get(name) == ""}


def run_visible(*, actor: Actor) -> QuerySet[Run]:
    return Run.objects.filter(team_id__in=actor.team_ids_with(JOB_READ))


def _normalized(data: Mapping[str, Any]) -> dict[str, Any]:
    """JSON bodies carry true/1; the FilterSet's form fields expect the query-string spelling."""
    clean: dict[str, Any] = {}
    for name, value in data.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        clean[name] = value if isinstance(value, str) else str(value)
    return clean


def run_list(*, actor: Actor, job: Job | None = None, filters: Mapping[str, Any] | None = None) -> QuerySet[Run]:
    """Runs the caller may read, of one job or all, narrowed by RunFilter; ValidationError on bad filters."""
    if job is not None:
        # Filter on the job alone, so the planner takes (job, -created_at, -id) and not the team index.
        readable = job.team_id in actor.team_ids_with(JOB_READ)
        queryset: QuerySet[Run] = Run.objects.filter(job=job) if readable else Run.objects.none()
    else:
        queryset = run_visible(actor=actor)
    data = cast(QueryDict, filters) if hasattr(filters, "getlist") else _normalized(filters or {})
    empty = empty_filters(data)
    if empty:
        raise ValidationError(empty)
    if not any(name in data for name in RunFilter.base_filters):
        return queryset  # nothing to narrow by: spare the FilterSet (a deep copy of its filters per request)
    filterset = RunFilter(data=data, queryset=queryset)
    if not filterset.is_valid():
        raise ValidationError({name: [str(m) for m in messages] for name, messages in filterset.errors.items()})
    return filterset.qs


def with_slot_completions(queryset: QuerySet[Run]) -> QuerySet[Run]:
    """Each run annotated with `slot_completions`: how many attempts at its slot (job, scheduled_for) have ended.

    A correlated subquery in the page's own SELECT (on the slot's unique index), so a page costs
    no query per run.
    """
    ended = (
        Run.objects.filter(job_id=OuterRef("job_id"), scheduled_for=OuterRef("scheduled_for"), status=Run.Status.ENDED)
        .order_by()
        .values("job_id")
        .annotate(ended=Count("pk"))
        .values("ended")
    )
    return queryset.annotate(slot_completions=Coalesce(Subquery(ended), 0))


def run_get(*, actor: Actor, run_id: str, job: Job | None = None) -> Run | None:
    """A run in a team the caller can see; the caller checks the permission its action needs (jobs.access)."""
    try:
        pk = uuid.UUID(str(run_id))
    except ValueError:
        return None
    queryset = Run.objects.filter(team_id__in=actor.team_ids, pk=pk)
    if job is not None:
        queryset = queryset.filter(job=job)
    return with_details(queryset).first()


def count_cap(filters: Mapping[str, Any] | None) -> int:
    """COUNT_CAP, or FILTERED_COUNT_CAP when `filters` (RunFilter's names) narrow by anything but the job."""
    narrowed = any(name != "job" and (filters or {}).get(name) not in (None, "") for name in RunFilter.base_filters)
    return FILTERED_COUNT_CAP if narrowed else COUNT_CAP


# How many of a team's newest unsuccessful runs a searched count reads before it falls back (run_count).
SEARCH_WALK_ROWS = 3 * FILTERED_COUNT_CAP


def _search_text(filters: Mapping[str, Any] | None) -> str:
    return str((filters or {}).get("q") or "").strip()  # as RunFilter's form field cleans it


def _walks_search(filters: Mapping[str, Any] | None) -> bool:
    data = filters or {}
    narrowed = data.get("endReason") in UNSUCCESSFUL_REASONS and not data.get("job")
    return connection.vendor == "postgresql" and bool(_search_text(filters)) and narrowed


def run_list_unsearched(*, actor: Actor, filters: Mapping[str, Any] | None) -> QuerySet[Run] | None:
    """The cross-job run_list without its search, when run_count can count the search by walking it; else None."""
    if not _walks_search(filters):
        return None
    data = filters or {}
    return run_list(actor=actor, filters={name: data.get(name) for name in data if name != "q"})


def _walked_count(unsearched: QuerySet[Run], text: str, cap: int) -> bool:
    """Whether more than `cap` of the newest SEARCH_WALK_ROWS runs of `unsearched` match the search `text`."""
    newest = unsearched.order_by(*Ordering("created_at").order_by()).values(*SEARCH_COLUMNS)[:SEARCH_WALK_ROWS]
    sql, params = newest.query.sql_with_params()
    match = " OR ".join(f"UPPER(walked.{column}::text) LIKE UPPER(%s)" for column in SEARCH_COLUMNS)
    pattern = f"%{connection.ops.prep_for_like_query(text)}%"  # as icontains escapes it
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM ({sql}) walked WHERE {match} LIMIT %s) matched",  # noqa: S608
            [*params, *[pattern] * len(SEARCH_COLUMNS), cap + 1],
        )
        return cursor.fetchone()[0] > cap


def run_count(
    queryset: QuerySet[Run], filters: Mapping[str, Any] | None = None, *, unsearched: QuerySet[Run] | None = None
) -> tuple[int, bool]:
    """(total, is_estimate) of a list narrowed by `filters`: exact up to its cap (`count_cap`), else the
    cap as a lower bound. The LIMIT bounds the cost.

    A search among one unsuccessful end reason across jobs (`unsearched`: the same list without the
    search, from run_list_unsearched) is first counted by walking those runs newest first, along
    run_team_unsuccessful_idx, stopping at the cap. The planner reckons such a search as if its text
    were independent of the reason, and counts it by building bitmaps of every match of each: a
    search that every failure matches took 30 ms over 1M runs, against 3 ms walked (bench b3), and
    the bitmaps grow with the history while the walk does not. When the first SEARCH_WALK_ROWS runs
    hold no more than the cap, the matches are sparse and the bitmaps, being small, count them.
    """
    cap = count_cap(filters)
    if unsearched is not None and _walked_count(unsearched, _search_text(filters), cap):
        return cap, True
    found = queryset.order_by().values("pk")[: cap + 1].count()
    return (cap, True) if found > cap else (found, False)


# --- Dashboard summaries (added by the dashboard) ----------------------------------------------


def jobs_with_last_run(queryset: QuerySet[Job]) -> QuerySet[Job]:
    """Each job annotated with `last_end_reason`, the end reason of its newest ended run (None if none)."""
    newest = Run.objects.filter(job=OuterRef("pk"), status=Run.Status.ENDED).order_by("-created_at", "-id")
    return queryset.annotate(last_end_reason=Subquery(newest.values("end_reason")[:1]))


RECENT_FIELDS = ("id", "job_id", "status", "end_reason", "created_at", "duration_ms")


def run_recent_by_job(*, job_ids: list[Any], per_job: int) -> dict[Any, list[Run]]:
    """The newest `per_job` runs of each job, oldest first, in one query.

    PostgreSQL walks (job, -created_at, -id) for exactly `per_job` rows per job (a LATERAL join);
    a window function would rank every run of every job first (2.6 ms against 0.9 ms for a jobs
    page at 100 runs per job, and growing with the history). SQLite uses the window function.
    """
    by_job: dict[Any, list[Run]] = {job_id: [] for job_id in job_ids}
    if not job_ids:
        return by_job
    if connection.vendor == "postgresql":
        columns = ", ".join(f"r.{name}" for name in RECENT_FIELDS)
        ranked: Any = Run.objects.raw(
            f"SELECT {columns} FROM unnest(%s::uuid[]) AS j(id) CROSS JOIN LATERAL ("  # noqa: S608 - constants
            f"SELECT * FROM {Run._meta.db_table} WHERE job_id = j.id ORDER BY created_at DESC, id DESC LIMIT %s"
            ") r ORDER BY r.job_id, r.created_at, r.id",
            [[uuid.UUID(str(job_id)) for job_id in job_ids], per_job],
        )
    else:
        newest_first = [F("created_at").desc(), F("id").desc()]
        ranked = (
            Run.objects.filter(job_id__in=job_ids)
            .annotate(rank=Window(RowNumber(), partition_by=[F("job_id")], order_by=newest_first))
            .filter(rank__lte=per_job)
            .only("id", "job", "status", "end_reason", "created_at", "duration_ms")  # RECENT_FIELDS
            .order_by("job_id", "created_at", "id")
        )
    for run in ranked:
        by_job.setdefault(run.job_id, []).append(run)
    return by_job


def run_success_rates(*, job_ids: list[Any], since: datetime) -> dict[Any, float | None]:
    """Per job, the share of runs ended since `since` that succeeded (None when none ended), in one query.

    A busy job's (history.stats.EXACT_LIMIT) come from its hourly rollups, as its stats do; the
    others' from their runs. One UNION: the rollups' sums for the busy ones, the runs' counts for
    the rest.
    """
    hours = RunHourly.objects.filter(job_id__in=job_ids, hour__gte=since.replace(minute=0, second=0, microsecond=0))
    busy = hours.order_by().values("job_id").annotate(total=Sum("ended")).filter(total__gt=history_stats.EXACT_LIMIT)
    rolled = busy.annotate(succeeded=Sum("succeeded")).values_list("job_id", "total", "succeeded")
    counted = (
        Run.objects.filter(job_id__in=job_ids, status=Run.Status.ENDED, created_at__gte=since)
        .exclude(job_id__in=busy.values("job_id"))
        .values("job_id")
        .annotate(ended=Count("pk"), succeeded=Count("pk", filter=Q(end_reason=Run.EndReason.SUCCESS)))
        .order_by()
        .values_list("job_id", "ended", "succeeded")
    )
    rates: dict[Any, float | None] = dict.fromkeys(job_ids)
    rates.update({job_id: succeeded / ended for job_id, ended, succeeded in rolled.union(counted, all=True)})
    return rates


def run_attempts(*, run: Run) -> list[Run]:
    """The run's attempt chain: every attempt at its slot, what it retried and what retried it; first first."""
    chain = Q(job_id=run.job_id, scheduled_for=run.scheduled_for) | Q(retry_of_id=run.pk)
    if run.retry_of_id:
        chain |= Q(pk=run.retry_of_id)
    fields = ("id", "attempt", "status", "end_reason", "created_at", "scheduled_for", "retry_of")
    return list(Run.objects.filter(chain).order_by("created_at", "attempt").only(*fields))


def anomaly_in_force(*, job: Job) -> dict[str, Any]:
    """The job's anomaly thresholds in force and what its baseline has learned (one query).

    `band` is the duration band a successful run must fall in, or None while fewer than the minimum
    sample have been learned (then no duration warning is given); `size_median` likewise.
    """
    from history.models import RunBaseline
    from jobs.engine.anomaly import duration_band, rule_for_job

    rule = rule_for_job(job)
    baseline = RunBaseline.objects.filter(job=job).values("durations_ms", "response_bytes", "json_field", "json_type")
    learned = baseline.first() or {"durations_ms": [], "response_bytes": [], "json_field": "", "json_type": ""}
    durations = list(learned["durations_ms"] or [])[-rule.window :]
    sizes = list(learned["response_bytes"] or [])[-rule.window :]
    enough = rule.min_samples
    return {
        "rule": rule,
        "samples": len(durations),
        "band": duration_band(durations, rule.duration_k) if rule.duration_k > 0 and len(durations) >= enough else None,
        "size_median": (statistics.median(sizes) if rule.size_factor > 0 and sizes and len(sizes) >= enough else None),
        "json_type": learned["json_type"] if learned["json_field"] == rule.json_field and rule.json_field else "",
    }
