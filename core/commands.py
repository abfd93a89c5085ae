from __future__ import annotations

import sys
from typing import Any, NoReturn

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import Conflict
from jobs.text import unclean_paths


def validation_message(exc: ValidationError) -> str:
    """One line out of a (possibly field-keyed) ValidationError."""
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return " ".join(exc.messages)


class Command(BaseCommand):
    """A command whose bad arguments end in one clear line on stderr and a non-zero exit."""

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)

        def error(message: str) -> NoReturn:
            if not parser.called_from_command_line:
                raise CommandError(f"Error: {message}")
            sys.stderr.write(f"{subcommand}: error: {message}\n")
            sys.exit(2)

        parser.error = error  # type: ignore[method-assign]  # argparse's error() is a method; ours says the error in one line and exits 2
        return parser

    def execute(self, *args: Any, **options: Any) -> Any:
        # Bytes that are not UTF-8 reach argv as lone surrogates; refuse them as the API does.
        given = {
            "argument": list(args),
            **{name: value for name, value in options.items() if isinstance(value, str | list)},
        }
        problems = unclean_paths(given)
        if problems:
            where, message = problems[0]
            raise CommandError(f"{where}: {message}")
        try:
            return super().execute(*args, **options)
        except ValidationError as exc:
            raise CommandError(validation_message(exc)) from exc
        except Conflict as exc:
            raise CommandError(exc.message) from exc
