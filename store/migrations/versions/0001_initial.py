"""Conversation engine: dialogs, messages, inbox and outbox.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00

Written out by hand (types included) so it never changes when the models do.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIME = sa.DateTime(timezone=True)


def _id() -> sa.Column:
    return sa.Column("id", ID, primary_key=True)


def _status(table: str, column: str, values: Sequence[str]) -> tuple[sa.Column, sa.CheckConstraint]:
    listed = ", ".join(f"'{value}'" for value in values)
    return (
        sa.Column(column, sa.String(16), nullable=False),
        sa.CheckConstraint(f"{column} IN ({listed})", name=f"ck_{table}_{column}"),
    )


def _create_dialogs() -> None:
    status, status_check = _status("dialogs", "status", ["bot", "waiting", "manager", "closed"])
    op.create_table(
        "dialogs",
        _id(),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("dialog_key", sa.String(255), nullable=False),
        sa.Column("user_ref", sa.String(255), nullable=False),
        sa.Column("role_id", sa.String(64), nullable=False),
        status,
        sa.Column("handoff_reason", sa.Text(), nullable=True),
        sa.Column("assigned_to", sa.String(255), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("state", JSON, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("last_message_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_dialogs"),
        sa.UniqueConstraint("channel", "dialog_key", name="uq_dialogs_channel_dialog_key"),
        status_check,
        sqlite_autoincrement=True,
    )
    op.create_index("ix_dialogs_status_updated_at", "dialogs", ["status", "updated_at"])


def _create_inbox() -> None:
    status, status_check = _status("inbox", "status", ["pending", "done", "failed"])
    op.create_table(
        "inbox",
        _id(),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("dialog_key", sa.String(255), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        status,
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("received_at", TIME, nullable=False),
        sa.Column("processed_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_inbox"),
        sa.UniqueConstraint("channel", "external_id", name="uq_inbox_channel_external_id"),
        status_check,
        sqlite_autoincrement=True,
    )
    op.create_index("ix_inbox_status_id", "inbox", ["status", "id"])
    op.create_index(
        "ix_inbox_channel_dialog_key_status_id", "inbox", ["channel", "dialog_key", "status", "id"]
    )


def _create_messages() -> None:
    direction, direction_check = _status("messages", "direction", ["in", "out"])
    author, author_check = _status(
        "messages", "author", ["customer", "agent", "manager", "system"]
    )
    op.create_table(
        "messages",
        _id(),
        sa.Column("dialog_id", ID, nullable=False),
        direction,
        author,
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("meta", JSON, nullable=False),
        sa.Column("inbox_id", ID, nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        sa.ForeignKeyConstraint(
            ["dialog_id"], ["dialogs.id"], name="fk_messages_dialog_id_dialogs", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["inbox_id"], ["inbox.id"], name="fk_messages_inbox_id_inbox", ondelete="SET NULL"
        ),
        direction_check,
        author_check,
        sqlite_autoincrement=True,
    )
    op.create_index("ix_messages_dialog_id_id", "messages", ["dialog_id", "id"])


def _create_outbox() -> None:
    status, status_check = _status("outbox", "status", ["pending", "sent", "dead"])
    op.create_table(
        "outbox",
        _id(),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("dialog_key", sa.String(255), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        status,
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIME, nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("inbox_id", ID, nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("sent_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.ForeignKeyConstraint(
            ["inbox_id"], ["inbox.id"], name="fk_outbox_inbox_id_inbox", ondelete="SET NULL"
        ),
        status_check,
        sqlite_autoincrement=True,
    )
    op.create_index("ix_outbox_status_next_attempt_at", "outbox", ["status", "next_attempt_at"])
    op.create_index(
        "ix_outbox_channel_dialog_key_status_id",
        "outbox",
        ["channel", "dialog_key", "status", "id"],
    )


def upgrade() -> None:
    _create_dialogs()
    _create_inbox()
    _create_messages()
    _create_outbox()


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("messages")
    op.drop_table("inbox")
    op.drop_table("dialogs")
