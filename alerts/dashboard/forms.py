"""Dashboard forms for channels and rules: they only parse; alerts.services validates and saves."""

from __future__ import annotations

from typing import Any, cast

from django import forms

from alerts.models import RULE_EVENTS, Channel, Event, Severity
from jobs.text import CleanTextMixin

WEEKDAYS = [(0, "Mon"), (1, "Tue"), (2, "Wed"), (3, "Thu"), (4, "Fri"), (5, "Sat"), (6, "Sun")]
FIELD_OF = {"repeat_every_seconds": "repeat_minutes", "job": None}


class ChannelForm(CleanTextMixin, forms.Form):
    name = forms.CharField(max_length=100)
    url = forms.CharField(
        label="Apprise URL",
        max_length=2000,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text="slack://…, workflows://… (Teams), pagerduty://…, json://host/path, mailto://… "
        "It is stored sealed and never shown again.",
    )
    min_severity = forms.ChoiceField(
        label="Minimum severity", choices=Severity.choices, initial=Severity.INFO,
        help_text="Alerts below it are not sent here: recovery is info, missed and warnings are warning, "
        "failures error, an auto-pause critical.",
    )  # fmt: skip


class RuleForm(CleanTextMixin, forms.Form):
    name = forms.CharField(max_length=100, required=False)
    events = forms.MultipleChoiceField(
        choices=[(event, Event(event).label) for event in RULE_EVENTS],
        widget=forms.CheckboxSelectMultiple,
        initial=[Event.FAILURE, Event.RECOVERY],
    )
    after_failures = forms.IntegerField(
        label="Alert after this many failures in a row", min_value=1, max_value=1000, initial=1
    )
    repeat_minutes = forms.IntegerField(
        label="Repeat every (minutes) while failing", min_value=1, max_value=7 * 24 * 60, required=False,
        help_text="Empty: once per incident.",
    )  # fmt: skip
    quiet_days = forms.TypedMultipleChoiceField(
        label="Quiet on", choices=WEEKDAYS, coerce=int, widget=forms.CheckboxSelectMultiple, required=False,
        help_text="No day ticked: every day.",
    )  # fmt: skip
    quiet_start = forms.TimeField(label="Quiet from", required=False, widget=forms.TimeInput(attrs={"type": "time"}))
    quiet_end = forms.TimeField(label="Quiet until", required=False, widget=forms.TimeInput(attrs={"type": "time"}))
    quiet_timezone = forms.CharField(label="Time zone of the quiet hours", max_length=64, initial="UTC")
    channels = forms.ModelMultipleChoiceField(queryset=Channel.objects.none(), widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args: Any, team: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelMultipleChoiceField, self.fields["channels"]).queryset = Channel.objects.filter(team=team)

    def service_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        minutes = data.pop("repeat_minutes", None)
        data["repeat_every_seconds"] = minutes * 60 if minutes else None
        data["channels"] = list(data["channels"])
        return data

    def add_service_errors(self, messages: dict[str, list[str]]) -> None:
        for field, errors in messages.items():
            name = FIELD_OF.get(field, field)
            for error in errors:
                self.add_error(name if name in self.fields else None, error)
