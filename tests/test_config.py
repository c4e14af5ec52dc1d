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
        (lambda r: r["database"].pop("url"), "missing config key: database.url"),
        (lambda r: r.pop("secret_key"), "missing config key: secret_key"),
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


def test_an_older_config_missing_a_key_or_a_whole_section_still_loads(tmp_path):
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["web"].pop("page_size")  # a key added after this file was written
    raw.pop("network")  # a section added after this file was written
    raw.pop("mail")
    s = validate(Settings.load(write(tmp_path, raw), env={}))
    assert s.web.page_size == 50 and s.web.session_minutes == 60  # the default, the file's own value
    assert (s.network.source_network, s.network.source_address) == ("", "")
    assert s.mail.archive_days == 30 and s.mail.dkim_selector == "govhost"


def test_the_smallest_config_is_the_secrets_and_the_database(tmp_path):
    raw = {"secret_key": "x" * 20, "secret_keys": ["k"], "database": {"url": "sqlite:///panel.db"}}
    s = validate(Settings.load(write(tmp_path, raw), env={"GOVHOST_SMTP__HOST": "127.0.0.1"}))
    assert s.smtp.host == "127.0.0.1" and s.smtp.port == 25  # an override into a section the file lacks
    assert s.data_dir == str(tmp_path / "var") and s.queue.sqlite_path == str(tmp_path / "var/queue.db")
    assert s.dns.nameservers == () and s.ansible.control_dir == ""


def test_every_default_is_the_value_the_example_shows():
    """config.example.yaml documents the defaults; the lab-specific lines are the only differences."""
    example = Settings.load(EXAMPLE, env={})
    bare = Settings.from_dict(
        {
            "secret_key": example.secret_key,
            "secret_keys": list(example.secret_keys),
            "database": {"url": "sqlite:///var/govhost.db"},
        },
        base=EXAMPLE.parent,
    )
    lab_lines = {
        "ansible.ssh_key",
        "ansible.control_dir",
        "network.source_network",
        "network.source_address",
        "lab.demo_host",
    }
    for section in ("queue", "web", "auth", "smtp", "ansible", "network", "dns", "sites", "mail", "lab"):
        for key, value in vars(getattr(bare, section)).items():
            if f"{section}.{key}" not in lab_lines:
                assert getattr(getattr(example, section), key) == value, f"{section}.{key}"


def test_network_source_keys_go_together(tmp_path):
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["network"]["source_address"] = ""
    with pytest.raises(ConfigError, match="go together"):
        validate(Settings.load(write(tmp_path, raw), env={}))
    raw["network"].update(source_address="10.77.0.1", source_network="10.77.0.0/33")
    with pytest.raises(ConfigError, match="config key network"):
        validate(Settings.load(write(tmp_path, raw), env={}))
