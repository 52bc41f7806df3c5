"""Deal store: contacts and their identities, consents, deals and the CRM outbox.

Revision ID: 0003
Revises: 0002
Create Date: 2026-01-01 00:00:00

Written out by hand (types included) so it never changes when the models do.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIME = sa.DateTime(timezone=True)


def _id() -> sa.Column:
    return sa.Column("id", ID, primary_key=True)


def _enum(table: str, column: str, values: Sequence[str]) -> tuple[sa.Column, sa.CheckConstraint]:
    listed = ", ".join(f"'{value}'" for value in values)
    return (
        sa.Column(column, sa.String(16), nullable=False),
        sa.CheckConstraint(f"{column} IN ({listed})", name=f"ck_{table}_{column}"),
    )


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}", ondelete=ondelete
    )


def _create_contacts() -> None:
    op.create_table(
        "contacts",
        _id(),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("phone", sa.String(16), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("erased_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_contacts"),
        sa.UniqueConstraint("phone", name="uq_contacts_phone"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "contact_identities",
        _id(),
        sa.Column("contact_id", ID, nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("user_ref", sa.String(255), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_contact_identities"),
        _fk("contact_identities", "contact_id", "contacts", "CASCADE"),
        sa.UniqueConstraint(
            "channel", "user_ref", name="uq_contact_identities_channel_user_ref"
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_contact_identities_contact_id", "contact_identities", ["contact_id"]
    )


def _create_consent_records() -> None:
    op.create_table(
        "consent_records",
        _id(),
        sa.Column("contact_id", ID, nullable=True),
        sa.Column("dialog_id", ID, nullable=True),
        sa.Column("message_id", ID, nullable=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("text_version", sa.String(64), nullable=False),
        sa.Column("given_at", TIME, nullable=False),
        sa.Column("withdrawn_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_consent_records"),
        _fk("consent_records", "contact_id", "contacts", "SET NULL"),
        _fk("consent_records", "dialog_id", "dialogs", "SET NULL"),
        _fk("consent_records", "message_id", "messages", "SET NULL"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_consent_records_dialog_id_id", "consent_records", ["dialog_id", "id"]
    )
    op.create_index("ix_consent_records_contact_id", "consent_records", ["contact_id"])


def _create_deals() -> None:
    product, product_check = _enum("deals", "product", ["deposit", "loan", "other"])
    stage, stage_check = _enum(
        "deals", "stage", ["new", "qualified", "in_work", "won", "lost"]
    )
    op.create_table(
        "deals",
        _id(),
        sa.Column("contact_id", ID, nullable=False),
        product,
        sa.Column("amount_minor", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("term_months", sa.Integer(), nullable=True),
        sa.Column("city", sa.Text(), nullable=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("role_id", sa.String(64), nullable=False),
        stage,
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("manager", sa.String(255), nullable=True),
        sa.Column("dialog_id", ID, nullable=True),
        sa.Column("consent_id", ID, nullable=True),
        sa.Column("details", JSON, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("qualified_at", TIME, nullable=True),
        sa.Column("closed_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_deals"),
        _fk("deals", "contact_id", "contacts", "CASCADE"),
        _fk("deals", "dialog_id", "dialogs", "SET NULL"),
        _fk("deals", "consent_id", "consent_records", "SET NULL"),
        product_check,
        stage_check,
        sqlite_autoincrement=True,
    )
    op.create_index("ix_deals_contact_id_stage", "deals", ["contact_id", "stage"])
    op.create_index("ix_deals_stage_updated_at", "deals", ["stage", "updated_at"])


def _create_crm_events() -> None:
    status, status_check = _enum("crm_events", "status", ["pending", "sent", "dead"])
    op.create_table(
        "crm_events",
        _id(),
        sa.Column("deal_id", ID, nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        status,
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIME, nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("sent_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_crm_events"),
        _fk("crm_events", "deal_id", "deals", "CASCADE"),
        sa.UniqueConstraint("idempotency_key", name="uq_crm_events_idempotency_key"),
        status_check,
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_crm_events_status_next_attempt_at", "crm_events", ["status", "next_attempt_at"]
    )
    op.create_index(
        "ix_crm_events_deal_id_status_id", "crm_events", ["deal_id", "status", "id"]
    )


def upgrade() -> None:
    _create_contacts()
    _create_consent_records()
    _create_deals()
    _create_crm_events()


def downgrade() -> None:
    op.drop_table("crm_events")
    op.drop_table("deals")
    op.drop_table("consent_records")
    op.drop_table("contact_identities")
    op.drop_table("contacts")
