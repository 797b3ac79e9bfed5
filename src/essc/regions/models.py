"""GB/T 2260 administrative divisions: provinces and prefecture-level cities."""

from __future__ import annotations

from sqlalchemy import CHAR, String
from sqlalchemy.orm import Mapped, mapped_column

from essc.core.db import Base


class Region(Base):
    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(CHAR(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(16))  # province | prefecture
    province: Mapped[str] = mapped_column(CHAR(2), index=True)
    parent_code: Mapped[str | None] = mapped_column(CHAR(6))
