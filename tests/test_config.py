"""Settings: the example works as-is; a missing, unknown or ill-typed key stops start-up naming it."""

from pathlib import Path

import pytest
import yaml

from panel.config import ConfigError, Settings, validate

EXAMPLE = Path(__file__).resolve().parents[1] / "config.example.yaml"


def write(tmp_path, raw) -> Path:
    p = tmp_path / "config.yaml"
    p.write_text(yaml.safe_dump(raw))
    return p


def test_example_config_loads_as_is_with_paths_beside_it():
    s = validate(Settings.load(EXAMPLE, env={}))
    assert s.database.url.startswith("sqlite:///")
    assert s.queue.backend == "sqlite"
    assert s.data_dir == str(EXAMPLE.parent / "var")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r["web"].pop("page_size"), "missing config key: web.page_size"),
        (lambda r: r["web"].update(pagesize=5), "unknown config key: web.pagesize"),
        (lambda r: r.update(colour="blue"), "unknown config key: colour"),
        (lambda r: r["auth"].update(lockout_minutes="ten"), "config key auth.lockout_minutes: expected a whole number"),
        (lambda r: r["web"].update(secure_cookies="yes"), "config key web.secure_cookies: expected true or false"),
        (lambda r: r.update(secret_keys="k"), "config key secret_keys: expected a list"),
        (lambda r: r.update(web=[]), "config key web: expected a mapping"),
    ],
)
def test_bad_keys_are_named(tmp_path, mutate, message):
    raw = yaml.safe_load(EXAMPLE.read_text())
    mutate(raw)
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        Settings.load(write(tmp_path, raw), env={})


def test_environment_overrides_and_their_errors(tmp_path):
    p = write(tmp_path, yaml.safe_load(EXAMPLE.read_text()))
    s = Settings.load(
        p,
        env={
            "GOVHOST_QUEUE__BACKEND": "redis",
            "GOVHOST_WEB__PAGE_SIZE": "25",
            "GOVHOST_LAB_DIR": "/elsewhere",
            "GOVHOST_TEST_ANYTHING": "1",
        },
    )
    assert (s.queue.backend, s.web.page_size) == ("redis", 25)
    with pytest.raises(ConfigError, match=r"unknown config key: web\.colour"):
        Settings.load(p, env={"GOVHOST_WEB__COLOUR": "red"})
    with pytest.raises(ConfigError, match=r"auth\.lockout_minutes: expected a whole number"):
        Settings.load(p, env={"GOVHOST_AUTH__LOCKOUT_MINUTES": "soon"})


def test_rules_across_keys(tmp_path):
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["queue"]["backend"] = "rabbit"
    with pytest.raises(ConfigError, match=r"queue\.backend"):
        validate(Settings.load(write(tmp_path, raw), env={}))


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        Settings.load(tmp_path / "nope.yaml", env={})
