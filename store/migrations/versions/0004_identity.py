"""A phone is not an identity; console sessions can be revoked.

- ``contacts.phone`` is no longer unique: a contact belongs to the messenger
  accounts that proved themselves (``contact_identities``), and two people may
  type the same number. An index keeps look-ups by phone (the console's erasure
  by phone, a manager's merge) fast.
- ``contacts.merged_into_id`` remembers where a contact went when a manager
  merged it into another one; ``contacts.phone_verified_at`` when a messenger
  proved the phone is the account's own (a Telegram contact of the sender).
- ``console_users.session_generation`` grows on every sign-out; a session cookie
  carrying an older generation is refused.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.types import IdType, UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.drop_constraint("uq_contacts_phone", type_="unique")
        batch.add_column(sa.Column("merged_into_id", IdType, nullable=True))
        batch.create_foreign_key("fk_contacts_merged_into_id_contacts", "contacts",
                                 ["merged_into_id"], ["id"], ondelete="SET NULL")
        batch.create_index("ix_contacts_phone", ["phone"])
        batch.add_column(sa.Column("phone_verified_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("console_users") as batch:
        batch.add_column(sa.Column("session_generation", sa.Integer(), nullable=False,
                                   server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("console_users") as batch:
        batch.drop_column("session_generation")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("phone_verified_at")
        batch.drop_index("ix_contacts_phone")
        batch.drop_constraint("fk_contacts_merged_into_id_contacts", type_="foreignkey")
        batch.drop_column("merged_into_id")
        batch.create_unique_constraint("uq_contacts_phone", ["phone"])
