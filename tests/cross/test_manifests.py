"""Every enabled capability's manifest, checked the way the isolation matrix checks routes: what it
names exists, every page it adds needs a login, every API operation states its security, every
request kind is labelled in Khmer and has an approval policy, every job it registers runs a playbook
the manifest names, and every settings key has a default and a line in config.example.yaml."""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path

import pytest
import yaml
from marshmallow import Schema

from panel import capabilities, config
from panel.config import ConfigError, Settings, settings_class
from panel.jobs import capabilities as job_kinds
from panel.models.requests import ApprovalMode
from panel.services import quotas, request_kinds, schedule

ROOT = Path(__file__).resolve().parents[2]
PLUGGED = capabilities.load()
NAMES = [p.manifest.name for p in PLUGGED]
KM = json.loads((ROOT / "panel" / "i18n_km.json").read_text(encoding="utf-8"))
NO_DEFAULT = {"secret_key", "secret_keys", "database.url"}  # no safe default; config.example.yaml says so


def _plugged(name: str) -> capabilities.Plugged:
    return next(p for p in PLUGGED if p.manifest.name == name)


def test_enabled_is_the_one_list_and_loads_in_dependency_order():
    assert [m.name for m in capabilities.manifests()] == NAMES
    for i, p in enumerate(PLUGGED):
        m = p.manifest
        assert m.package == f"panel.capabilities.{m.name}", "a manifest's name is its package's name"
        assert set(m.requires) <= set(NAMES[:i]), f"{m.name} is loaded before what it requires"
        assert m.connection in ("ssh", "winrm")


@pytest.mark.parametrize("name", NAMES)
def test_every_part_named_exists_and_is_registered(name):
    p = _plugged(name)
    m = p.manifest
    for part in (m.models, m.kinds, m.jobs, *m.subscribers, m.web, m.api, m.cli, m.dashboard):
        if part:
            assert capabilities.resolve(m, part) is not None, f"{name}: {part}"
    assert (p.kinds != ()) == bool(m.kinds), f"{name}: its kinds module registers kinds"
    assert (p.job_kinds != ()) == bool(m.jobs), f"{name}: its jobs module registers job kinds"
    for q in m.quotas:
        assert quotas.DEFAULT_LIMITS[q.resource] == q.default and q.label in KM, f"{name}: quota {q.resource}"
    sweeps = {s.name for s in schedule.sweeps()}
    for sw in m.sweeps:
        assert sw.name in sweeps and sw.name.startswith(f"{name}.")
        if sw.every_setting:
            section, key = sw.every_setting.split(".")
            assert typing.get_type_hints(typing.get_type_hints(settings_class())[section])[key] is int, sw.every_setting
    assert m.label in KM, f"{name}: its label needs Khmer in panel/i18n_km.json"


RECORDED_ONLY = {"soc.user_lock", "soc.token_revoke"}  # a SOC containment in the ministry's request list


@pytest.mark.parametrize("name", NAMES)
def test_every_kind_has_a_schema_a_khmer_label_who_may_ask_and_an_approval_policy(name):
    for kind_name in _plugged(name).kinds:
        kind = request_kinds.get(kind_name)
        assert kind.label in KM, f"{kind_name}: label {kind.label!r} has no Khmer"
        assert isinstance(kind.default_policy, ApprovalMode), kind_name
        # nobody asks for a recorded-only kind: requests.request_record files it for an action taken
        assert kind.who_may_request or kind_name in RECORDED_ONLY, f"{kind_name}: nobody may ask for it"
        assert callable(kind.validate) and callable(kind.on_approve), kind_name
        assert isinstance(kind.schema, type) and issubclass(kind.schema, Schema), f"{kind_name}: no payload schema"
        for field_name, f in _fields(kind.schema):
            error = f.metadata.get("rule_error")
            if error:  # the rule's message, shown in Khmer like the rule's own refusal
                assert error[1] in KM, f"{kind_name}.{field_name}: {error[1]!r} has no Khmer"


def test_every_kind_the_core_knows_has_a_schema():
    """The core's kinds and every enabled capability's (not the kinds tests define for themselves):
    none is left without a payload schema."""
    ours = [k for k in request_kinds.all() if k.validate.__module__.startswith("panel.")]
    assert {"quota.change", "host.ping", "sites.site_create", "mail.alias_create"} <= {k.name for k in ours}
    assert [k.name for k in ours if k.schema is None] == []


def _fields(schema, prefix: str = ""):
    for name, f in schema._declared_fields.items():
        yield prefix + name, f
        inner = getattr(f, "inner", None)
        if inner is not None:
            yield prefix + name + "[]", inner
        nested = getattr(inner or f, "nested", None)
        if isinstance(nested, type) and issubclass(nested, Schema):
            yield from _fields(nested, f"{prefix}{name}.")


@pytest.mark.parametrize("name", NAMES)
def test_every_job_runs_a_playbook_the_manifest_names_and_that_exists(name):
    m = _plugged(name).manifest
    used = set()
    for kind in _plugged(name).job_kinds:
        cap = job_kinds.get(kind)
        if cap.local is None:
            assert cap.playbook in m.playbooks, f"{kind} runs {cap.playbook}, which the {name} manifest does not name"
            used.add(cap.playbook)
    for playbook in m.playbooks:
        assert (job_kinds.PLAYBOOK_DIR / playbook).is_file(), f"{name}: playbooks/{playbook} is missing"
    assert used == set(m.playbooks), f"{name}: names playbooks no job runs: {set(m.playbooks) - used}"


def test_every_web_page_of_a_capability_needs_a_login(app, csrf_off):
    client = app.test_client()
    prefixes = {capabilities.resolve(p.manifest, p.manifest.web).name + "." for p in PLUGGED if p.manifest.web}
    public = {e for p in PLUGGED for e in p.manifest.public_pages}
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith(tuple(prefixes)):
            continue
        url = rule.build({a: sorted(getattr(rule._converters[a], "items", None) or [1])[0] for a in rule.arguments})[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            resp = client.open(url, method=method)
            to_login = resp.status_code == 302 and "/login" in resp.headers["Location"]
            assert to_login != (rule.endpoint in public), f"{method} {url} ({rule.endpoint})"
            checked += 1
    assert checked > 20


def test_every_api_operation_of_a_capability_states_its_security(app):
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    prefixes = tuple(
        f"/api/v1{capabilities.resolve(p.manifest, p.manifest.api).url_prefix}" for p in PLUGGED if p.manifest.api
    )
    ops = [
        (path, method, op)
        for path, item in spec["paths"].items()
        if path.startswith(prefixes)
        for method, op in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]
    assert len(ops) > 20
    missing = [f"{m.upper()} {path}" for path, m, op in ops if "security" not in op]
    assert not missing, "operations without a stated security: " + ", ".join(missing)
    anonymous = app.test_client()
    for path, method, op in ops:
        if op["security"] == [] and method == "get":  # stated public: really answers without a token
            assert anonymous.get(path).status_code != 401, path


def _keys(cls, prefix: str = "") -> list[tuple[str, dataclasses.Field]]:
    out = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name == "source":
            continue
        if dataclasses.is_dataclass(hints[f.name]):
            out += _keys(hints[f.name], f"{prefix}{f.name}.")
        else:
            out.append((prefix + f.name, f))
    return out


def test_every_settings_key_has_a_default_and_a_line_in_config_example():
    example = yaml.safe_load((ROOT / "config.example.yaml").read_text(encoding="utf-8"))
    for key, f in _keys(settings_class()):  # the core's keys and every registered section's
        has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        assert has_default or key in NO_DEFAULT, f"settings key {key} has no default"
        node = example
        for part in key.split("."):
            assert isinstance(node, dict) and part in node, f"config.example.yaml has no line for {key}"
            node = node[part]


@pytest.mark.parametrize("name", NAMES)
def test_a_capabilitys_settings_are_its_own_section(name):
    """Its keys live in its package (settings.py), registered under its name; its sweeps read them."""
    m = _plugged(name).manifest
    if not m.settings:
        return
    section = capabilities.resolve(m, m.settings)
    assert section.__module__ == f"{m.package}.settings" and config.sections()[name] is section
    assert name not in {f.name for f in dataclasses.fields(Settings)}, f"panel/config.py still defines {name}"
    for sw in m.sweeps:
        assert not sw.every_setting or sw.every_setting.startswith(f"{name}."), f"{sw.name} reads another section"


def test_an_unknown_but_new_settings_section_starts_with_its_defaults(tmp_path):
    """A capability enabled after config.yaml was written: its section is missing and takes its
    defaults; once it is unplugged, the same section in a file is an unknown key like any typo."""
    from tests.cross.sectioned import MANIFEST

    written = (ROOT / "config.example.yaml").read_text(encoding="utf-8")  # knows nothing of it
    capabilities.plug(MANIFEST)
    try:
        settings = Settings.load(_write(tmp_path, written), env={})
        assert settings.sectioned.every_minutes == 15
        assert settings.sectioned.spool == str(tmp_path / "var" / "sectioned")  # a path key: from the file's folder
        raw = yaml.safe_load(written) | {"sectioned": {"every_minutes": 5}}
        assert Settings.load(_write(tmp_path, yaml.safe_dump(raw)), env={}).sectioned.every_minutes == 5
        env = {"GOVHOST_SECTIONED__EVERY_MINUTES": "7"}
        assert Settings.load(_write(tmp_path, written), env=env).sectioned.every_minutes == 7
    finally:
        capabilities.unplug(MANIFEST.name)
    with pytest.raises(ConfigError, match="unknown config key: sectioned"):
        Settings.load(_write(tmp_path, yaml.safe_dump(raw)), env={})


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path
