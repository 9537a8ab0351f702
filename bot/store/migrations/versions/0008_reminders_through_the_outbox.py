"""reminders are delivered through ``delivery_outbox``

``reminder_outbox`` stays as the reminder's own record (its slot, the nudge picked, the person's
answer, why it was skipped); sending moved to the delivery outbox, keyed by the reminder's id (the
same retry key as before). A reminder row ``sending`` now means "in the delivery outbox".

* Upgrade: a row the old dispatcher had claimed (``sending``, with no delivery row) goes back to
  ``pending``, so the new dispatcher hands it to the outbox with the same key and the platform
  drops it if the old worker's send had already arrived.
* Downgrade: unfinished reminder deliveries are taken out of the outbox and their rows put back
  to ``pending`` (the old dispatcher sends them again with the same key); ``dead`` becomes
  ``failed``, the old dispatcher's last status.

Revision ID: 0008
Revises: 0007
"""
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE reminder_outbox SET status = 'pending', claimed_by = NULL "
               "WHERE status = 'sending' AND id NOT IN (SELECT key FROM delivery_outbox)")


def downgrade() -> None:
    op.execute("UPDATE reminder_outbox SET status = 'pending', claimed_by = NULL "
               "WHERE status = 'sending' AND id IN (SELECT key FROM delivery_outbox "
               "WHERE kind = 'reminder' AND status IN ('pending', 'sending'))")
    op.execute("DELETE FROM delivery_outbox WHERE kind = 'reminder' AND status IN ('pending', 'sending')")
    op.execute("UPDATE reminder_outbox SET status = 'failed' WHERE status = 'dead'")
