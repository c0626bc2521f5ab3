"""The DynamoDB tables, defined once.

The local stack and the tests create tables from these classes, and a test compares them with the
tables `template.yaml` declares, so the two cannot drift. Table names and the endpoint are bound at
start-up by `bind`, from settings, because pynamodb reads them from each model's Meta.
"""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.settings import get_settings_value

BILLING_MODE = "PAY_PER_REQUEST"


class UserItem(Model):
    class Meta:
        table_name = "riadex-users"
        billing_mode = BILLING_MODE
        region: str | None = None
        host: str | None = None

    user_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    created_at = UnicodeAttribute()


class SessionsByOwner(GlobalSecondaryIndex["SessionItem"]):
    """A user's sessions, newest first: Query on owner_id, ScanIndexForward=False."""

    class Meta:
        index_name = "by-owner"
        projection = AllProjection()

    owner_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class SandboxMap(MapAttribute[str, str]):
    """The session's sandbox. Only status and backend are public; the rest is for the backend side.

    `secret` holds the tool server's secret only where the secret store is "inline" (local stack);
    in AWS it stays in SSM Parameter Store and `secret_ref` names the parameter.
    """

    status = UnicodeAttribute()
    backend = UnicodeAttribute()
    sandbox_id = UnicodeAttribute(null=True)
    endpoint = UnicodeAttribute(null=True)
    ref = UnicodeAttribute(null=True)
    secret = UnicodeAttribute(null=True)
    secret_ref = UnicodeAttribute(null=True)
    claimed_at = UnicodeAttribute(null=True)
    last_used_at = UnicodeAttribute(null=True)


class SessionItem(Model):
    class Meta:
        table_name = "riadex-sessions"
        billing_mode = BILLING_MODE
        region: str | None = None
        host: str | None = None

    session_id = UnicodeAttribute(hash_key=True)
    owner_id = UnicodeAttribute()
    title = UnicodeAttribute()
    status = UnicodeAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    active_run_id = UnicodeAttribute(null=True)
    last_seq = NumberAttribute(default=0)
    sandbox = SandboxMap(null=True)
    takeover_id = UnicodeAttribute(null=True)
    """Set while the user has taken the sandbox over (docs/api.md), with the time they did."""
    takeover_since = UnicodeAttribute(null=True)

    by_owner = SessionsByOwner()


class RunsBySession(GlobalSecondaryIndex["RunItem"]):
    """A session's runs in creation order, for history and for deleting a session whole."""

    class Meta:
        index_name = "by-session"
        projection = AllProjection()

    session_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class RunItem(Model):
    class Meta:
        table_name = "riadex-runs"
        billing_mode = BILLING_MODE
        region: str | None = None
        host: str | None = None

    run_id = UnicodeAttribute(hash_key=True)
    session_id = UnicodeAttribute()
    owner_id = UnicodeAttribute()
    status = UnicodeAttribute()
    created_at = UnicodeAttribute()
    started_at = UnicodeAttribute(null=True)
    ended_at = UnicodeAttribute(null=True)
    usage = JSONAttribute(null=True)
    error = JSONAttribute(null=True)
    message = UnicodeAttribute(null=True)
    attachments = JSONAttribute(null=True)
    request_hash = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    first_seq = NumberAttribute(null=True)
    message_seq = NumberAttribute(null=True)
    execution = UnicodeAttribute(null=True)
    wait = JSONAttribute(null=True)
    takeover_id = UnicodeAttribute(null=True)
    conversation = UnicodeAttribute(null=True)
    """The loop's conversation snapshot: zlib-compressed JSON, base64 (adapters/dynamodb/conversations.py).
    Text, not Binary: the local store's snapshot and journal are JSON."""
    conversation_ref = UnicodeAttribute(null=True)
    """Where the snapshot is when it is too large for the item: an object store key."""

    by_session = RunsBySession()


class EventItem(Model):
    """One event of a session's log: partition = session, sort = seq (gap-free, from 1).

    The same table holds each session's append keys, in a partition of their own
    (`<session_id>#keys`, sort = a 120-bit number hashed from the key), so that storing an event and
    claiming its key happen in one transaction and expire together.
    """

    class Meta:
        table_name = "riadex-events"
        billing_mode = BILLING_MODE
        region: str | None = None
        host: str | None = None

    session_id = UnicodeAttribute(hash_key=True)
    seq = NumberAttribute(range_key=True)
    run_id = UnicodeAttribute(null=True)
    type = UnicodeAttribute()
    ts = UnicodeAttribute()
    data = JSONAttribute()
    expires_at = TTLAttribute(null=True)


class FilesBySession(GlobalSecondaryIndex["FileItem"]):
    """A session's files, for listing and for deleting them with the session."""

    class Meta:
        index_name = "by-session"
        projection = AllProjection()

    session_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class FileItem(Model):
    """A file uploaded into (or exported from) a session: metadata here, bytes in the object store."""

    class Meta:
        table_name = "riadex-files"
        billing_mode = BILLING_MODE
        region: str | None = None
        host: str | None = None

    file_id = UnicodeAttribute(hash_key=True)
    session_id = UnicodeAttribute()
    owner_id = UnicodeAttribute()
    name = UnicodeAttribute()
    size = NumberAttribute()
    content_type = UnicodeAttribute()
    key = UnicodeAttribute()
    path = UnicodeAttribute()
    created_at = UnicodeAttribute()
    placed = BooleanAttribute(default=True)

    by_session = FilesBySession()


# Each model under the logical name template.yaml gives its table (a test holds the two in step).
TEMPLATE_RESOURCES: dict[str, type[Model]] = {
    "UsersTable": UserItem,
    "SessionsTable": SessionItem,
    "RunsTable": RunItem,
    "EventsTable": EventItem,
    "FilesTable": FileItem,
}
ALL_TABLES: tuple[type[Model], ...] = tuple(TEMPLATE_RESOURCES.values())


LOCAL_POOL_CONNECTIONS = 100


def bind(
    *,
    users: str,
    sessions: str,
    runs: str,
    events: str,
    files: str,
    region: str,
    endpoint: str | None,
) -> None:
    """Point every model at its deployed table name and, locally, at a DynamoDB endpoint."""
    bindings: tuple[tuple[type[Model], str], ...] = (
        (UserItem, users),
        (SessionItem, sessions),
        (RunItem, runs),
        (EventItem, events),
        (FileItem, files),
    )
    for model, name in bindings:
        if (model.Meta.table_name, model.Meta.region, model.Meta.host) == (name, region, endpoint):
            continue  # bound already (another function of the local stack): keep its connection
        model.Meta.table_name = name
        model.Meta.region = region
        model.Meta.host = endpoint
        # Locally one process serves every function's threads: botocore's default pool of 10 kept
        # opening a new connection to moto per request under load (a Lambda runs one at a time).
        model.Meta.max_pool_connections = (
            LOCAL_POOL_CONNECTIONS if endpoint else get_settings_value("max_pool_connections")
        )
        # pynamodb caches its connection per class; drop it so the new binding takes effect.
        model._connection = None


def create_all() -> None:
    """Create the tables that do not exist yet (local stack and tests; AWS gets them from the template)."""
    for model in ALL_TABLES:
        if not model.exists():
            model.create_table(wait=True, billing_mode=BILLING_MODE)
