"""When each periodic sweep last ran; the row lock makes one worker run it when several tick."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from panel.db import Base


class ScheduledRun(Base):
    __tablename__ = "scheduled_runs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_run_at: Mapped[dt.datetime]
    last_result: Mapped[str] = mapped_column(String(500), default="")
