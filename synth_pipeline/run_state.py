"""Which process is working on a version, and what a version whose run ended early is.

Every stage of a version records itself in `stage_runs` as it starts (run id, host, the
pid of the process running it and that process's start time) and again as it ends (ok,
failed with its error, or refused by a gate). The version list reads these rows, so a
version whose process was killed is shown as `interrupted` at the stage it was in, and one
whose stage raised as `failed` with the stage and the reason, instead of `running` for
ever. Both can be resumed: `synth materialize <dataset> --version <id>` runs the version
again and the generation cache answers every request already paid for.

Plain warehouse reads and writes: no Dagster. `defs/` records the stages; the CLI also
marks the Dagster run of an interrupted version as failed, so the UI agrees.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from synth_pipeline.warehouse import Warehouse

TABLE = "stage_runs"
_DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    dataset VARCHAR NOT NULL, version VARCHAR NOT NULL, stage VARCHAR NOT NULL,
    run_id VARCHAR, host VARCHAR, pid BIGINT, process_started DOUBLE,
    started_at TIMESTAMP, ended_at TIMESTAMP, outcome VARCHAR, error VARCHAR
)"""

# Outcomes of one stage execution; NULL while it runs.
OK, FAILED, REFUSED, INTERRUPTED = "ok", "failed", "refused", "interrupted"
# Statuses the version list shows besides the stored ones (running, published, ...).
INTERRUPTED_STATUS, FAILED_STATUS, INCOMPLETE_STATUS = "interrupted", "failed", "incomplete"
_MAX_ERROR = 300
# Environment variables whose values never reach the warehouse (API keys in a message).
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)


@dataclass(frozen=True)
class VersionState:
    """What the version list shows for a version besides its gates."""

    status: str  # "running", "interrupted", "failed" or the stored status
    stage: str | None = None
    reason: str | None = None
    run_id: str | None = None

    @property
    def resumable(self) -> bool:
        return self.status in (INTERRUPTED_STATUS, FAILED_STATUS, INCOMPLETE_STATUS)

    def describe(self) -> str:
        if self.status == INTERRUPTED_STATUS:
            return f"interrupted in {self.stage}" + (f" ({self.reason})" if self.reason else "")
        if self.status == FAILED_STATUS:
            return f"failed in {self.stage}: {self.reason}"
        if self.status == INCOMPLETE_STATUS:
            return f"stopped after {self.stage}"
        return self.status


def ensure_table(wh: Warehouse) -> None:
    wh.execute(_DDL)


def one_line_error(error: BaseException) -> str:
    """The error's first line, without secret values from the environment, cut to fit."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    for name, value in os.environ.items():
        if len(value) >= 8 and _SECRET_NAME.search(name) and value in text:
            text = text.replace(value, "***")
    return text if len(text) <= _MAX_ERROR else text[: _MAX_ERROR - 3] + "..."


def process_start_time(pid: int) -> float | None:
    """Seconds after boot the process started (None: no such live process). Compared with
    the recorded start, it tells a reused pid from the process that wrote the row."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        if not Path("/proc/self/stat").exists():  # no /proc: only whether the pid exists
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return None
            except PermissionError:
                return 0.0
            return 0.0
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (name) "
    if fields[0] in ("Z", "X"):  # a zombie has ended; only its exit status is left
        return None
    return int(fields[19]) / os.sysconf("SC_CLK_TCK")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@contextmanager
def stage_run(
    wh: Warehouse,
    dataset: str,
    version: str,
    stage: str,
    run_id: str | None,
    refusals: tuple[type[BaseException], ...] = (),
) -> Iterator[None]:
    """Record one stage execution: started before the body, ended after it.

    An exception of a type in `refusals` is a gate's answer, not a failure: recorded as
    refused. Any other exception is recorded as failed with its first line, then re-raised.
    A process killed inside the body leaves the row open; `version_state` tells it apart
    from a live one by the pid and the process's start time.
    """
    ensure_table(wh)
    pid = os.getpid()
    wh.execute(
        f"INSERT INTO {TABLE} (dataset, version, stage, run_id, host, pid, process_started, "
        "started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            dataset,
            version,
            stage,
            run_id,
            socket.gethostname(),
            pid,
            process_start_time(pid),
            _now(),
        ],
    )

    try:
        yield
    except refusals as e:
        _close(wh, dataset, version, stage, pid, REFUSED, one_line_error(e))
        raise
    except Exception as e:
        _close(wh, dataset, version, stage, pid, FAILED, one_line_error(e))
        raise
    _close(wh, dataset, version, stage, pid, OK, None)


def _close(
    wh: Warehouse, dataset: str, version: str, stage: str, pid: int, outcome: str,
    error: str | None,
) -> None:  # fmt: skip
    """End the open row of one stage execution (its process's) with its outcome."""
    wh.execute(
        f"UPDATE {TABLE} SET ended_at = ?, outcome = ?, error = ? WHERE dataset = ? AND "
        "version = ? AND stage = ? AND pid = ? AND ended_at IS NULL",
        [_now(), outcome, error, dataset, version, stage, pid],
    )


def process_alive(host: str | None, pid: int | None, process_started: float | None) -> bool:
    """True unless the row's process is known to be gone: same host, and the pid is not
    running or now belongs to a process started later (the pid was reused)."""
    if host != socket.gethostname() or pid is None:
        return True  # another machine's process: nothing here can tell
    started = process_start_time(int(pid))
    if started is None:
        return False
    return not process_started or abs(started - process_started) < 1.0


def open_stages(wh: Warehouse, dataset: str) -> list[tuple]:
    ensure_table(wh)
    return wh.rows(
        f"SELECT version, stage, run_id, host, pid, process_started FROM {TABLE} "
        "WHERE dataset = ? AND ended_at IS NULL ORDER BY started_at",
        [dataset],
    )


def mark_interrupted(wh: Warehouse, dataset: str) -> list[tuple[str, str, str | None]]:
    """Close the open stage rows whose process is gone, as interrupted; store the version's
    status `interrupted`. Returns (version, stage, run_id) of each newly found one."""
    found = []
    for version, stage, run_id, host, pid, started in open_stages(wh, dataset):
        if process_alive(host, pid, started):
            continue
        _close(
            wh, dataset, version, stage, pid, INTERRUPTED, f"process {pid} ended during the stage"
        )
        if wh.version_status(dataset, version) in (None, "running"):
            wh.set_version_status(dataset, version, INTERRUPTED_STATUS)
        found.append((version, stage, run_id))
    return found


def version_states(
    wh: Warehouse, dataset: str, run_outcome: Callable[[str], str | None] | None = None
) -> dict[str, VersionState]:
    """Each version's state from its latest stage row and its stored status.

    A version whose latest stage failed (and that nothing published or held since) is
    `failed`; one whose stage was interrupted is `interrupted`; an open row of a live
    process is `running`. Between two stages only the orchestrator knows: `run_outcome(run_id)`
    says how a run ended (None while it runs), and a run that ended without taking the version
    further leaves it `incomplete` (stopped after its last stage: a gate held it or only some
    stages were selected) or, when its process died, `interrupted`. Versions without stage
    rows keep their stored status.
    """
    ensure_table(wh)
    rows = wh.rows(
        f"""
        SELECT s.version, s.stage, s.outcome, s.error, s.run_id, s.ended_at IS NULL AS open,
               v.status
        FROM (
            SELECT *, row_number() OVER (
                PARTITION BY version ORDER BY started_at DESC, ended_at DESC NULLS FIRST
            ) AS n
            FROM {TABLE} WHERE dataset = ?
        ) s
        LEFT JOIN versions v ON v.dataset = ? AND v.version = s.version
        WHERE s.n = 1
        """,
        [dataset, dataset],
    )
    states: dict[str, VersionState] = {}
    for version, stage, outcome, error, run_id, is_open, stored in rows:
        if stored not in (None, "running", INTERRUPTED_STATUS, FAILED_STATUS):
            states[version] = VersionState(stored, stage, None, run_id)
        elif is_open:
            states[version] = VersionState("running", stage, None, run_id)
        elif outcome == INTERRUPTED:
            states[version] = VersionState(INTERRUPTED_STATUS, stage, error, run_id)
        elif outcome == FAILED:
            states[version] = VersionState(FAILED_STATUS, stage, error, run_id)
        else:
            ended = run_outcome(run_id) if run_outcome is not None and run_id else None
            if ended is None:
                states[version] = VersionState("running", stage, None, run_id)
            elif ended == INTERRUPTED:
                states[version] = VersionState(INTERRUPTED_STATUS, stage, "after it", run_id)
            else:
                states[version] = VersionState(INCOMPLETE_STATUS, stage, ended, run_id)
    return states


def reconcile(
    wh: Warehouse,
    dataset: str,
    fail_run: Callable[[str, str], None] | None = None,
    run_outcome: Callable[[str], str | None] | None = None,
) -> dict[str, VersionState]:
    """Find interrupted versions (telling the orchestrator through `fail_run(run_id,
    message)`, so its run stops showing as started) and return every version's state."""
    mark_interrupted(wh, dataset)
    states = version_states(wh, dataset, run_outcome)
    for version, state in states.items():
        if fail_run is not None and state.run_id and state.status == INTERRUPTED_STATUS:
            fail_run(
                state.run_id,
                f"{dataset} version {version} was {state.describe()}: its process ended. "
                f"Resume it with `synth materialize {dataset} --version {version}`.",
            )
    return states


def publication_unconfirmed(wh: Warehouse, dataset: str) -> list[str]:
    """Published versions whose `published` or `exports` stage did not end ok here: the
    orchestrator may not have recorded their publication (it alone can confirm)."""
    ensure_table(wh)
    return [
        v
        for (v,) in wh.rows(
            f"""
            SELECT DISTINCT h.version FROM publish_history h
            WHERE h.dataset = ? AND (
                SELECT count(DISTINCT s.stage) FROM {TABLE} s
                WHERE s.dataset = h.dataset AND s.version = h.version
                  AND s.stage IN ('published', 'exports') AND s.outcome = '{OK}'
            ) < 2
            ORDER BY 1
            """,
            [dataset],
        )
    ]
