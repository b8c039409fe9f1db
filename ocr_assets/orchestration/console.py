"""The terminal of a run: one short line per thing an operator follows, everything else in the UI.

Dagster's own console logger prints every event of every run with a prefix of about 200
characters (logger, run ID, process, step, event type). A deployment runs one child run per
region and one for the roll-ups, so a terminal showed those runs' every step and compute line.
This logger (the code location's ``console`` logger, configured like Dagster's) prints instead:

- the messages of the run itself (the deploy job's progress lines), as ``HH:MM:SS  message``;
- warnings and errors, with the step they come from, on one line each: a failed step shows the
  first line of its error, not its traceback;
- nothing of a child run (tagged with its parent) but its warnings: the parent reports each
  child run's outcome in its own progress line, with the run's ID.

``verbose: true`` prints every message at ``log_level`` with the run and step it belongs to, and
tracebacks in full. Every message of every run is in the run's event log (the UI) whatever this
logger prints.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import Any

import dagster as dg

#: Run tag naming the run that started a child run (the deploy run).
PARENT_RUN_TAG = "ocr/parent_run"
#: The attribute of a log record holding Dagster's metadata (run, step, event, message).
RECORD_METADATA = "dagster_meta"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _error_of(event: Any) -> Any:
    data = getattr(event, "event_specific_data", None)
    return getattr(data, "error", None)


#: Errors Dagster wraps the user's error in: the message is the cause's.
_WRAPPERS = ("DagsterExecutionStepExecutionError", "DagsterUserCodeExecutionError")


def error_message(error: Any) -> str:
    """A serialized error's message: the user's error inside Dagster's wrappers and inside
    retries that ran out, without the class of a ``Failure`` (its description is the text)."""
    while error.cause is not None and (
        error.message.startswith("Exceeded max_retries") or error.cls_name in _WRAPPERS
    ):
        error = error.cause
    text = error.message.strip()
    prefix = re.match(rf"^[\w.]*\b{re.escape(error.cls_name or '')}: ", text)
    return text[prefix.end() :] if prefix and error.cls_name == "Failure" else text


def failure_text(event: Any) -> str:
    """A failed step's message: a ``Failure``'s description, else :func:`error_message`."""
    data = event.event_specific_data
    user = getattr(data, "user_failure_data", None)
    if user is not None and user.description:
        return user.description
    error = _error_of(event)
    return error_message(error) if error is not None else "failed"


class ConsoleFormatter(logging.Formatter):
    """Formats (and, unless verbose, selects) the records of Dagster's log manager."""

    def __init__(self, verbose: bool = False) -> None:
        super().__init__()
        self.verbose = verbose

    def keep(self, record: logging.LogRecord) -> bool:
        """Whether a non-verbose terminal shows ``record``."""
        meta = getattr(record, RECORD_METADATA, None)
        if meta is None:
            return True
        event = meta.get("dagster_event")
        child = PARENT_RUN_TAG in (meta.get("job_tags") or {})
        if event is None:
            return record.levelno >= logging.WARNING if child else True
        # Events: only the failures of the run itself (its progress lines say the rest).
        return not child and event.is_step_failure

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        meta = getattr(record, RECORD_METADATA, None)
        if meta is None:
            return f"{stamp}  {record.getMessage()}"
        where = meta.get("step_key") or (
            f"resource:{meta['resource_name']}" if meta.get("resource_name") else ""
        )
        level = "" if record.levelno < logging.WARNING else f"{record.levelname} "
        event = meta.get("dagster_event")
        if self.verbose:
            run = (meta.get("run_id") or "")[:8]
            text = f"{stamp}  {level}{meta.get('job_name')} {run} {where}  {meta['orig_message']}"
            error = _error_of(event) if event is not None else None
            return f"{text}\n{error.to_string()}" if error is not None else text
        if event is not None and event.is_step_failure:
            return f"{stamp}  {level}{where} failed: {_first_line(failure_text(event))}"
        prefix = f"{where}: " if level and where else ""
        return f"{stamp}  {level}{prefix}{meta['orig_message']}"


class _Selected(logging.Filter):
    def __init__(self, formatter: ConsoleFormatter) -> None:
        super().__init__()
        self.formatter = formatter

    def filter(self, record: logging.LogRecord) -> bool:
        return self.formatter.verbose or self.formatter.keep(record)


@dg.logger(
    config_schema={
        "log_level": dg.Field(str, default_value="INFO", description="Lowest level printed."),
        "verbose": dg.Field(
            bool,
            default_value=False,
            description="Every message with its run and step, tracebacks in full.",
        ),
        "name": dg.Field(str, default_value="dagster"),
    },
    description="One short line per progress message, warning or failure (see the module).",
)
def console_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    """The terminal logger of every job of the code location (``loggers: console``)."""
    config = init_context.logger_config
    logger = logging.Logger(config["name"], level=config["log_level"].upper())
    handler = logging.StreamHandler(sys.stderr)
    formatter = ConsoleFormatter(verbose=config["verbose"])
    handler.setFormatter(formatter)
    handler.addFilter(_Selected(formatter))
    logger.addHandler(handler)
    return logger


def console_config(verbose: bool, log_level: str = "INFO") -> dict[str, Any]:
    """The run config of the ``console`` logger at ``log_level`` (``verbose`` named only when
    on, so the config also suits Dagster's own console logger)."""
    config: dict[str, Any] = {"log_level": log_level}
    if verbose:
        config["verbose"] = True
    return {"loggers": {"console": {"config": config}}}


def child_console_config(run_config: dict[str, Any]) -> dict[str, Any]:
    """The console config of a child run of a run configured with ``run_config``: as verbose
    as its parent; its INFO lines stay in the UI unless verbose (the parent reports them)."""
    config = run_config.get("loggers", {}).get("console", {}).get("config", {})
    verbose = bool(config.get("verbose", False))
    return console_config(verbose, config.get("log_level", "INFO") if verbose else "WARNING")
