"""Log formatters: plain text for people, one JSON object per line (LOG_FORMAT=json) for collectors.

Both carry the fields a caller passes with `extra=` (the engine passes run_id and job_id on every
line about a run), so a run can be followed through the web, the dispatcher and the workers.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

# What every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}
# The plain format shows only these extras: Celery passes whole dicts as `data` on its own lines.
PLAIN_FIELDS = ("run_id", "job_id")


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {key: value for key, value in record.__dict__.items() if key not in _STANDARD and not key.startswith("_")}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            entry.setdefault(key, value)  # an extra may not overwrite the fields above
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        # default=str: extras such as a request or a UUID are written as their text.
        return json.dumps(entry, default=str, ensure_ascii=False)


class PlainFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:
        text = super().formatMessage(record)
        ids = " ".join(f"{key}={record.__dict__[key]}" for key in PLAIN_FIELDS if key in record.__dict__)
        return f"{text} [{ids}]" if ids else text


# The clock worker runs the dispatcher every second and the reaper every few: beat's "Sending due
# task", the worker's "received" and the trace's "succeeded" would be three INFO lines a second at rest.
_CLOCK_TASK = re.compile(r"\bhourglass\.(?:dispatch|reap)\b")
_CLOCK_LOGGERS = frozenset({"celery.beat", "celery.worker.strategy", "celery.app.trace"})


class ClockTasksAtDebug(logging.Filter):
    """Celery's INFO lines about the clock tasks become DEBUG lines (shown only when the logger is at DEBUG).

    Their failures keep their level; the executor's tasks keep their INFO lines.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or record.name not in _CLOCK_LOGGERS:
            return True
        if not _CLOCK_TASK.search(record.getMessage()):
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
