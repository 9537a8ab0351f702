"""Import every model module so ``Base.metadata`` holds the whole schema (Alembic, tests)."""
from bot.store import models  # noqa: F401
from bot.store import web_models  # noqa: F401
from bot.reminders import models as reminder_models  # noqa: F401
from bot.store import slack_models  # noqa: F401
from bot.store import line_models  # noqa: F401
from bot.store import outbox_models  # noqa: F401
from bot.store.models import Base

metadata = Base.metadata
