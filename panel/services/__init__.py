"""Use cases: one `noun_verb(actor, ...)` function each, shared by the web, the API and the CLI."""
