"""Marking the runs of killed processes failed, for local (single-host) Dagster instances.

Dagster's run monitoring (``run_monitoring`` in ``dagster.yaml``) fails runs whose worker never
started; a run whose process was killed (``kill -9``, out of memory, a closed laptop) after it
started stays ``STARTED`` in the run history for ever with the default run launcher, which
cannot check its workers. Every run records the process it runs in (the ``pid`` of its
``RUN_START`` event); :func:`fail_dead_runs` reports the started runs whose process no longer
exists as failed. Local instances keep their run history on one host, so a process ID names a
process of this host; deployed instances (Postgres, several hosts) rely on Dagster's own
monitoring instead.

``make demo`` calls it before its runs; in the UI (``make ui``, ``dg dev``) the :data:`dead_runs_sensor`
of the local code location calls it every minute.
"""

from __future__ import annotations

import dagster as dg

from ocr_assets.storage.atomic import process_alive

#: Run states in which a run has a live process.
ACTIVE = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def run_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The process ID recorded by the run's ``RUN_START`` event (``None``: not started)."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.RUN_START, limit=1
    ).records
    for record in records:
        event = record.event_log_entry.dagster_event
        if event is not None and event.pid is not None:
            return int(event.pid)
    return None


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Report started runs whose process is gone as failed; return their run IDs."""
    failed = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=ACTIVE)):
        pid = run_pid(instance, run.run_id)
        if pid is None or process_alive(pid):
            continue
        instance.report_run_failed(
            run, f"run process {pid} no longer exists (killed); marked failed at the next start"
        )
        failed.append(run.run_id)
    return failed


@dg.sensor(
    name="fail_dead_runs",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks runs of killed processes failed (local, single-host instances only).",
)
def dead_runs_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    """Run :func:`fail_dead_runs` on the daemon's instance; it never requests runs."""
    failed = fail_dead_runs(context.instance)
    return dg.SkipReason(
        f"marked failed: {', '.join(failed)}" if failed else "no run of a dead process"
    )
