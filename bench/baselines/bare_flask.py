"""Not a benchmark: the baseline app bench/api.py runs, a bare Flask app that answers one SELECT
(given in $BARE_SQL_<NAME>, the very statement the API sends for the same page) as JSON, one psycopg2
connection per process."""

from __future__ import annotations

import os

import psycopg2
from flask import Flask, jsonify


def create_app() -> Flask:
    app = Flask(__name__)
    dsn = os.environ["BARE_DSN"]
    queries = {k.removeprefix("BARE_SQL_").lower(): v for k, v in os.environ.items() if k.startswith("BARE_SQL_")}
    conn = None

    @app.get("/bare/<name>")
    def bare(name: str):
        nonlocal conn
        if conn is None:
            conn = psycopg2.connect(dsn)
            conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(queries[name])
            cols = [d.name for d in cur.description]
            items = [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
        return jsonify(items=items)

    return app
