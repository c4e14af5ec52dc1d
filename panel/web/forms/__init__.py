"""Flask-WTF forms, one module per domain; every label and message is a lazy translatable string."""
