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


def _csv(text: str, columns: Sequence[str], field: str, delimiter: str = ",") -> list[tuple[int, dict[str, str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, skipinitialspace=True, strict=True)
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


# ---- files with a header: uploads of bulk provisioning ---------------------------------------------

MAX_FILE_BYTES = 8 * 1024 * 1024
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def is_utf16(data: bytes | str) -> bool:
    """A file with a UTF-16 byte-order mark: LibreOffice's UTF-16 CSV (commas) or Excel's "Unicode
    text" (tabs), the only UTF-16 tables spreadsheets write, so such a file may separate by tabs."""
    return isinstance(data, bytes) and data.startswith(UTF16_BOMS)


def decode_upload(data: bytes | str, *, field: str = "file") -> str:
    """Text of a file as spreadsheets save it: UTF-8 with or without a byte-order mark (Excel's "CSV
    UTF-8"), UTF-16 with its mark (LibreOffice's UTF-16 CSV), any line endings. Anything else (a
    binary file, a legacy code page) is refused by name rather than read as mojibake."""
    if isinstance(data, str):
        text = data
    else:
        if len(data) > MAX_FILE_BYTES:
            raise Invalid(
                "table.file_too_large", "The file is larger than {max} MB.", field=field, max=MAX_FILE_BYTES >> 20
            )
        if b"\x00" in data[:4096] and not is_utf16(data):
            raise Invalid("table.binary", "The file is binary, not a text table.", field=field)
        if is_utf16(data):
            try:
                text = data.decode("utf-16")
            except UnicodeDecodeError:
                raise Invalid("table.encoding", "The file is not UTF-8 or UTF-16 text.", field=field) from None
        else:
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError as e:
                raise Invalid(
                    "table.encoding",
                    "The file is not UTF-8 text (byte {offset}): save it as CSV UTF-8.",
                    field=field,
                    offset=e.start,
                ) from None
    text = text.lstrip("\ufeff")
    if "\x00" in text or any(ord(c) < 32 and c not in "\t\r\n" for c in text[:4096]):
        raise Invalid("table.binary", "The file is binary, not a text table.", field=field)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_records(
    text: str,
    allowed: Sequence[str],
    *,
    required: Sequence[str] = (),
    field: str = "file",
    max_rows=MAX_ROWS,
    tabs: bool = False,
) -> list[tuple[int, dict[str, str]]]:
    """A CSV file whose first line names its columns (API field names, in any order, any subset of
    `allowed` that holds `required`) -> [(line, {column: text})]. The header is checked whole: an
    unknown column, a missing required one, a repeated one or another delimiter is one clear error.
    With `tabs` (a UTF-16 file: Excel's "Unicode text") a header of tabs and no comma makes the whole
    file tab-separated, read by the same parser with the same quoting."""
    lines = text.split("\n")
    header_at = next((i for i, ln in enumerate(lines) if ln.strip() and not ln.lstrip().startswith("#")), None)
    if header_at is None:
        raise Invalid("table.empty", "The file has no header line.", field=field)
    header_line = lines[header_at]
    sep = "\t" if tabs and "\t" in header_line and "," not in header_line else ","
    if sep == "," and "," not in header_line and len(allowed) > 1:
        for sep, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "bars")):
            if sep in header_line:
                raise Invalid(
                    "table.delimiter",
                    "Line {line}: fields are separated by {sep}; save the file as CSV with commas.",
                    field=field,
                    line=header_at + 1,
                    sep=name,
                )
    header = [h.strip() for h in next(csv.reader([header_line], delimiter=sep))]
    unknown = [h for h in header if h not in allowed]
    if unknown:
        raise Invalid(
            "table.column_unknown",
            "Line {line}: unknown column {column}; the columns are {columns}.",
            field=field,
            line=header_at + 1,
            column=unknown[0][:64],
            columns=", ".join(allowed),
        )
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise Invalid(
            "table.column_repeated",
            "Line {line}: column {column} appears twice.",
            field=field,
            line=header_at + 1,
            column=repeated[0],
        )
    missing = [c for c in required if c not in header]
    if missing:
        raise Invalid(
            "table.column_missing",
            "Line {line}: the column {column} is required.",
            field=field,
            line=header_at + 1,
            column=missing[0],
        )
    body = "\n" * (header_at + 1) + "\n".join(lines[header_at + 1 :])
    rows = _csv(body, header, field, sep)
    if len(rows) > max_rows:
        raise Invalid("table.too_many_rows", "At most {max} rows at a time.", field=field, max=max_rows)
    return [(line, {c: row.get(c, "") for c in header}) for line, row in rows]


def read_tree(text: str, *, field: str = "file") -> tuple[object, dict[int, int]]:
    """A YAML (or JSON) document and, for every mapping in it, the line it starts on (by id() of
    the loaded dict), so an error about an item names its line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise Invalid(
            "table.yaml_invalid",
            "Line {line}: the YAML cannot be read.",
            field=field,
            line=mark.line + 1 if mark else 1,
        ) from None
    except RecursionError:  # thousands of nested [ or {: the parser's own stack, not a server error
        raise Invalid("table.yaml_too_deep", "The YAML is nested too deep to be a table.", field=field) from None
    lines: dict[int, int] = {}
    seen: set[int] = set()

    def walk(n, value) -> None:
        # an alias (*name) is the node of its anchor again: walked once, so a few bytes of aliases
        # cannot make this walk the same rows millions of times
        if id(n) in seen:
            return
        seen.add(id(n))
        if isinstance(n, yaml.MappingNode) and isinstance(value, dict):
            lines[id(value)] = n.start_mark.line + 1
            for k, v in n.value:
                key = k.value
                if key in value:
                    walk(v, value[key])
        elif isinstance(n, yaml.SequenceNode) and isinstance(value, list):
            for child, item in zip(n.value, value, strict=False):
                walk(child, item)

    if node is not None:
        walk(node, data)
    return data, lines
