"""The `govhost` command line (click + rich)."""
