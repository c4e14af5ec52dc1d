"""The one table reader (services.tabular): CSV and YAML read to the same rows; errors name the line."""

from __future__ import annotations

import pytest

from panel.errors import Invalid
from panel.services.tabular import read_table, write_table

COLS = ("local_part", "password", "display_name")


def test_csv_quoting_comments_blank_lines_and_spaces():
    text = '# header comment\n\ninfo, "a,b ""c"" ",  Dara\r\nsales,p w \n"x"\n'
    assert read_table(text, COLS) == [
        {"local_part": "info", "password": 'a,b "c" ', "display_name": "Dara"},
        {"local_part": "sales", "password": "p w ", "display_name": ""},
        {"local_part": "x", "password": "", "display_name": ""},
    ]


def test_yaml_gives_the_same_rows():
    text = '- {local_part: info, password: "a,b \\"c\\" ", display_name: Dara}\n- local_part: x\n'
    assert read_table(text, COLS, fmt="yaml") == [
        {"local_part": "info", "password": 'a,b "c" ', "display_name": "Dara"},
        {"local_part": "x", "password": "", "display_name": ""},
    ]


def test_written_rows_read_back_unchanged():
    rows = [{"local_part": "a", "password": 'x,"y"', "display_name": "Chan, Dara"}, {"local_part": "b"}]
    again = read_table(write_table(rows, COLS), COLS)
    assert again == [rows[0], {"local_part": "b", "password": "", "display_name": ""}]


@pytest.mark.parametrize(
    ("text", "fmt", "key", "line"),
    [
        ("a,b,c,d\n", "csv", "table.too_many_fields", 1),
        ("ok,1\n,2\n", "csv", "table.value_missing", 2),
        ('a,"unclosed\n', "csv", "table.csv_invalid", None),
        ("{a: 1}", "yaml", "table.yaml_invalid", None),
        ("- {local_part: a, colour: red}", "yaml", "table.yaml_row_invalid", 1),
        ("[", "yaml", "table.yaml_invalid", None),
        ("a", "xml", "table.format_unknown", None),
    ],
)
def test_bad_tables_are_refused_naming_the_line(text, fmt, key, line):
    with pytest.raises(Invalid) as e:
        read_table(text, COLS, fmt=fmt, field="entries")
    assert e.value.key == key and e.value.field == "entries"
    if line is not None:
        assert e.value.params["line"] == line


def test_row_limit():
    with pytest.raises(Invalid) as e:
        read_table("a\nb\nc\n", COLS, max_rows=2)
    assert e.value.key == "table.too_many_rows"
