"""The one reader of tables that people type or upload: CSV (or YAML) text -> a list of rows.

Every surface that takes rows in bulk parses through `read_table` (the mail batch on the web form
and in the CLI today; bulk provisioning builds on it), so a line means the same thing wherever it
is typed. CSV is the standard dialect: a field holding a comma or a quote is quoted ("pa,ss";
a quote inside is doubled); blank lines and lines starting with # are skipped; spaces after a comma are
ignored, the rest of a field is kept as typed (a password keeps its spaces). YAML is a list of
mappings with the same column names. Values come back as text; the service validates them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import yaml

from panel.errors import Invalid

MAX_ROWS = 10_000
FORMATS = ("csv", "yaml")


def read_table(
    text: str, columns: Sequence[str], *, required: int = 1, fmt: str = "csv", field: str = "file", max_rows=MAX_ROWS
) -> list[dict[str, str]]:
    """Rows as {column: text}; the first `required` columns must be present on every row, the
    others default to "". A malformed table raises Invalid naming the line."""
    if fmt not in FORMATS:
        raise Invalid("table.format_unknown", "Unknown table format {fmt}: use csv or yaml.", field=field, fmt=fmt)
    rows = _csv(text or "", columns, field) if fmt == "csv" else _yaml(text or "", columns, field)
    if len(rows) > max_rows:
        raise Invalid("table.too_many_rows", "At most {max} rows at a time.", field=field, max=max_rows)
    for line, row in rows:
        for name in columns[:required]:
            if not row.get(name, "").strip():
                raise Invalid(
                    "table.value_missing", "Line {line}: {column} is missing.", field=field, line=line, column=name
                )
    return [{c: row.get(c, "") for c in columns} for _line, row in rows]


def read_table_lines(text: str, columns: Sequence[str], **kwargs) -> tuple[list[dict[str, str]], list[int]]:
    """read_table() and the line each row came from, so a later error about row n can name its line."""
    rows = read_table(text, columns, **kwargs)
    fmt = kwargs.get("fmt", "csv")
    field = kwargs.get("field", "file")
    numbered = _csv(text or "", columns, field) if fmt == "csv" else _yaml(text or "", columns, field)
    return rows, [line for line, _row in numbered]


def _csv(text: str, columns: Sequence[str], field: str) -> list[tuple[int, dict[str, str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True, strict=True)
    rows = []
    try:
        for fields in reader:
            line = reader.line_num
            if not fields or not "".join(fields).strip() or fields[0].lstrip().startswith("#"):
                continue
            if len(fields) > len(columns):
                raise Invalid(
                    "table.too_many_fields",
                    "Line {line} has {found} fields; at most {max} ({columns}). Quote a value that holds a comma.",
                    field=field,
                    line=line,
                    found=len(fields),
                    max=len(columns),
                    columns=", ".join(columns),
                )
            rows.append((line, dict(zip(columns, fields, strict=False))))
    except csv.Error as e:
        raise Invalid(
            "table.csv_invalid", "Line {line}: {reason}.", field=field, line=reader.line_num, reason=str(e)
        ) from None
    return rows


def _yaml(text: str, columns: Sequence[str], field: str) -> list[tuple[int, dict[str, str]]]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        raise Invalid("table.yaml_invalid", "The YAML cannot be read.", field=field) from None
    if data is None:
        return []
    if not isinstance(data, list):
        raise Invalid("table.yaml_invalid", "The YAML must be a list of rows.", field=field)
    rows = []
    for i, item in enumerate(data, start=1):
        if not isinstance(item, dict) or not set(item) <= set(columns):
            raise Invalid(
                "table.yaml_row_invalid",
                "Row {line}: give only {columns}.",
                field=field,
                line=i,
                columns=", ".join(columns),
            )
        rows.append((i, {str(k): "" if v is None else str(v) for k, v in item.items()}))
    return rows


def write_table(rows: Sequence[dict], columns: Sequence[str]) -> str:
    """Rows back to CSV text that read_table reads the same (quoted where needed)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        values = [str(row.get(c, "") or "") for c in columns]
        while values and values[-1] == "":
            values.pop()
        writer.writerow(values)
    return out.getvalue()
