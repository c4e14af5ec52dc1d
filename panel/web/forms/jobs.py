"""Forms of the job pages: cancel and retry are bare POSTs that carry only the CSRF token."""

from __future__ import annotations

from flask_wtf import FlaskForm


class JobActionForm(FlaskForm):
    """Cancel or retry one job (the job id is in the URL)."""
