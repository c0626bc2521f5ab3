"""Start and stop the local stack: moto on a private port, tables from the pynamodb models, data restored
(the tables' items and the object store's bytes, both kept under RIADEX_DATA_DIR).

`python -m riadex.entrypoints.local` (what `make dev` runs) wraps this around uvicorn; the e2e tests
start that same command.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from riadex.adapters.dynamodb import tables
from riadex.bootstrap import Container, FunctionEnvironment, bind_tables
from riadex.config import Settings
from riadex.domain.models import RunStatus
from riadex.entrypoints.local import object_mirror, snapshot
from riadex.entrypoints.local.agent_workflow import (
    LocalAgent,
    configure_moto,
    ensure_bucket,
    route_lambda_to,
    state_machine_arn,
)
from riadex.entrypoints.local.functions import LocalFunction, task_functions
from riadex.entrypoints.local.gateway import LocalGateway, local_gateway
from riadex.entrypoints.local.journal import Journal
from riadex.entrypoints.local.lambda_invoke import Handler, LambdaInvokeServer
from riadex.entrypoints.local.moto_fidelity import make_moto_faithful

SNAPSHOT_FILE = "dynamodb.json"
JOURNAL_FILE = "dynamodb.journal"
COMPACT_MIN_WRITES = 1000
"""A snapshot compacts the journal once it holds this many writes, or as many as the last snapshot held
items if that is more (LocalStack._save_periodically)."""
INTERRUPTED = "stack_restarted"
OBJECTS_DIR = "objects"  # the object store's bytes, one file per object
STATE_MACHINE_NAME = "riadex-agent"


class PortInUse(Exception):
    pass


def ensure_port_free(host: str, port: int) -> None:
    """Fail early and clearly when another server (another `make dev`?) holds the port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            raise PortInUse(f"port {port} on {host} is already in use") from None


class _ExpectedWorkflowFailures(logging.Filter):
    """moto's Step Functions logs, at ERROR, every failure its ASL interpreter handles: a task error
    the state machine catches, its own Fail state. Those are the product's normal paths (a `!fail` run,
    a cancel), and the product logs them itself; any other exception in the interpreter is kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        first = str(args[0]) if args else str(record.msg)
        return not first.startswith("Exception=FailureEventException")


def quiet_expected_workflow_failures() -> None:
    logger = logging.getLogger("moto.stepfunctions.parser.asl.component.eval_component")
    if not any(isinstance(f, _ExpectedWorkflowFailures) for f in logger.filters):
        logger.addFilter(_ExpectedWorkflowFailures())


def isolate_from_aws(endpoint: str, region: str) -> None:
    """Make every AWS client in this process talk to moto, with credentials that open nothing real."""
    os.environ["AWS_ACCESS_KEY_ID"] = "riadex-local"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "riadex-local"  # noqa: S105 - a placeholder, not a secret
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_PROFILE", None)
    os.environ["AWS_DEFAULT_REGION"] = region
    os.environ["AWS_REGION"] = region
    os.environ["AWS_ENDPOINT_URL"] = endpoint


def _moto_dynamodb(region: str) -> Any:
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[DEFAULT_ACCOUNT_ID][region]


def end_interrupted_runs(container: Container) -> int:
    """Runs still open when the stack went down had their executions in moto's memory, which is gone:
    each ends `failed` (reason stack_restarted, retryable) with its `done`, never stuck `running`."""
    open_statuses = [status.value for status in RunStatus if not status.is_terminal]
    ended = 0
    for item in tables.RunItem.scan(tables.RunItem.status.is_in(*open_statuses)):
        container.run_service.fail(
            item.run_id,
            INTERRUPTED,
            "the local stack stopped while this run was in flight; send the message again",
            retryable=True,
        )
        ended += 1
    return ended


@dataclass
class LocalStack:
    settings: Settings
    moto: ThreadedMotoServer | None = None
    endpoint: str = ""
    _stop: threading.Event = field(default_factory=threading.Event)
    _saver: threading.Thread | None = None
    _keeps_snapshot: bool = False
    journal: Journal | None = None
    _snapshot_items: int = 0
    _journaled_at_snapshot: int = 0
    lambdas: LambdaInvokeServer | None = None
    agent: LocalAgent | None = None
    environment: FunctionEnvironment | None = None
    """What every function of the stack runs with: the settings and the bell its appends ring."""
    functions: dict[str, LocalFunction] = field(default_factory=dict)
    """The state machine's tasks, each run through its functions/<name>/handler.py."""
    container: Container | None = None
    """The stack's own container: ends the runs a restart interrupted, sweeps and reaps sandboxes."""

    @property
    def snapshot_path(self) -> Path:
        return self.settings.data_dir / SNAPSHOT_FILE

    def start(self) -> Settings:
        """Start moto, create and restore the tables; returns the settings the app must use."""
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
        quiet_expected_workflow_failures()
        make_moto_faithful()
        self.moto = ThreadedMotoServer(ip_address=self.settings.local_aws_host, port=0, verbose=False)
        self.moto.start()
        host, port = self.moto.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        isolate_from_aws(self.endpoint, self.settings.aws_region)
        # The functions' EMF metrics are log lines for CloudWatch: not on the console (=false shows them).
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
        # With DYNAMODB_ENDPOINT set, the data lives in that DynamoDB, not in moto: nothing to keep.
        self._keeps_snapshot = self.settings.dynamodb_endpoint is None
        configure_moto(self.endpoint)
        settings = self.settings.model_copy(
            update={
                "dynamodb_endpoint": self.settings.dynamodb_endpoint or self.endpoint,
                "state_machine_arn": state_machine_arn(self.settings.aws_region, STATE_MACHINE_NAME),
            }
        )
        bind_tables(settings)
        tables.create_all()
        if self._keeps_snapshot:
            self._snapshot_items = snapshot.load(self._dynamodb(), self.snapshot_path)
            # Every acknowledged write since that snapshot is in the journal (local/journal.py).
            self.journal = Journal(self.settings.data_dir / JOURNAL_FILE)
            # The replayed writes count toward the next compaction as much as new ones.
            self._journaled_at_snapshot = -self.journal.replay(_moto_dynamodb(self.settings.aws_region))
            self.journal.open()
            snapshot.load_objects(self._s3(), self.objects_path)
            object_mirror.mirror_to(self.objects_path)  # after the load: it would rewrite every file
        if self._keeps_snapshot and self.settings.snapshot_interval_seconds > 0:
            self._saver = threading.Thread(target=self._save_periodically, name="snapshot", daemon=True)
            self._saver.start()
        self.settings = settings
        self._start_agent(settings)
        return settings

    def _start_agent(self, settings: Settings) -> None:
        """Runs execute for real: the state machine in moto, its tasks through their functions/<name>/
        handler.py in this process (local/functions.py), or on `sam local start-lambda`."""
        from riadex.application.append_bell import AppendBell
        from riadex.bootstrap import bootstrap

        ensure_bucket(settings.aws_region, settings.objects_bucket)
        self.lambdas = LambdaInvokeServer()
        self.lambdas.start()
        route_lambda_to(self.lambdas)
        # One process: the tasks' appends wake the streams directly (no poll interval).
        self.environment = FunctionEnvironment(settings, bell=AppendBell())
        container = self.container = bootstrap(settings, bell=self.environment.bell)
        end_interrupted_runs(container)
        self.functions = task_functions(self.environment, settings.aws_region)
        handlers: dict[str, Handler] = dict(self.functions)
        if settings.local_lambda_endpoint:
            from riadex.entrypoints.local.sam_lambda import SamLocalLambda

            remote = SamLocalLambda(settings.local_lambda_endpoint)
            handlers = {name: remote.handler(name) for name in handlers}
        self.agent = LocalAgent(self.lambdas, settings.aws_region, STATE_MACHINE_NAME, handlers).start()

    def http_app(self) -> LocalGateway:
        """The API and stream functions' apps behind one gateway, in the stack's environment."""
        assert self.environment is not None, "start() first"
        return local_gateway(self.environment)

    def stop(self) -> None:
        if self.agent is not None:
            self.agent.stop()
            self.agent = None
        if self.lambdas is not None:
            self.lambdas.stop()
            self.lambdas = None
        self._stop.set()
        if self._saver is not None:
            self._saver.join()
        if self._keeps_snapshot and self.moto is not None:
            self.save()
        if self.journal is not None:
            self.journal.close(snapshot_saved=self.moto is not None)
            self.journal = None
        if self.moto is not None:
            self.moto.stop()
            self.moto = None

    def save(self) -> None:
        if self.journal is not None:
            self.journal.rotate()
            self._journaled_at_snapshot = self.journal.writes
        self._snapshot_items = snapshot.save(self._dynamodb(), self._table_names(), self.snapshot_path)
        if self.journal is not None:
            self.journal.snapshot_saved()
        snapshot.save_objects(self._s3(), self.objects_path)

    @property
    def objects_path(self) -> Path:
        return self.settings.data_dir / OBJECTS_DIR

    def _s3(self) -> Any:
        return boto3.client("s3", endpoint_url=self.endpoint, region_name=self.settings.aws_region)

    def _save_periodically(self) -> None:
        """Every write is already durable in the journal, so a snapshot only compacts it (a shorter
        replay at the next start). A snapshot scans every table, a cost that grows with the data kept:
        taken every interval, it was 13% of the stack's CPU with 4,000 events stored (make load), a
        share growing with the data. So it is taken only once the journal holds as many writes as the
        snapshot would hold items (COMPACT_MIN_WRITES at least): a constant share of the writes."""
        while not self._stop.wait(self.settings.snapshot_interval_seconds):
            if self.compaction_due():
                self.save()

    def compaction_due(self) -> bool:
        """The journal holds (since the last snapshot, replayed writes included) at least as many writes
        as the snapshot holds items, and COMPACT_MIN_WRITES."""
        held = (self.journal.writes if self.journal else 0) - self._journaled_at_snapshot
        return held >= max(COMPACT_MIN_WRITES, self._snapshot_items)

    def _table_names(self) -> list[str]:
        return [model.Meta.table_name for model in tables.ALL_TABLES]

    def _dynamodb(self) -> Any:
        return boto3.client(
            "dynamodb", endpoint_url=self.settings.dynamodb_endpoint, region_name=self.settings.aws_region
        )
