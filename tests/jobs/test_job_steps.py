"""Every task and play under playbooks/ has a plain-language step, and each step has Khmer."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from panel.i18n import memory
from panel.services.job_steps import OTHER, STEPS, step_of

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"


def _names(tasks) -> list[str]:
    out = []
    for t in tasks or []:
        if isinstance(t, dict):
            out += [t["name"]] if "name" in t else []
            for key in ("block", "rescue", "always"):
                out += _names(t.get(key))
    return out


def playbook_names() -> set[str]:
    names = set()
    for path in PLAYBOOKS.glob("*.yml"):
        for play in yaml.safe_load(path.read_text()) or []:
            names |= {play["name"]} if "name" in play else set()
            for key in ("pre_tasks", "tasks", "post_tasks", "handlers"):
                names |= set(_names(play.get(key)))
    for path in [*PLAYBOOKS.glob("roles/*/tasks/*.yml"), *PLAYBOOKS.glob("roles/*/handlers/*.yml")]:
        names |= set(_names(yaml.safe_load(path.read_text())))
    return names


def test_every_playbook_task_has_a_plain_step():
    names = playbook_names()
    assert len(names) > 50  # the walk found the playbooks
    assert sorted(n for n in names if n not in STEPS) == []


def test_ansible_generated_names_and_unknown_tasks():
    assert step_of("Validating arguments against arg spec 'main' - Sites") == "Checking the settings"
    assert step_of("Gathering Facts") == "Connecting to the server"
    assert step_of("something new") == OTHER


def test_every_step_has_khmer():
    km = memory()
    assert all(km.get(step) for step in {*STEPS.values(), OTHER})


def test_capabilities_register_their_steps_and_unplugging_takes_them_out():
    from panel import capabilities
    from panel.services import job_steps

    assert step_of("Create a zone") == "Updating the DNS zone"  # from panel/capabilities/dns/steps.py
    capabilities.unplug("dns")
    try:
        assert step_of("Create a zone") == OTHER
        assert step_of("Ping a managed host") == "Connecting to the server"  # the core's own stay
    finally:
        capabilities.plug(capabilities.manifest_of("dns"))
    assert step_of("Create a zone") == "Updating the DNS zone"
    with pytest.raises(job_steps.StepConflict, match="Create a zone"):
        job_steps.register("toy", {"Something else": ("Create a zone",)})
    job_steps.register("toy", {"Updating the DNS zone": ("Create a zone",)})  # a shared role: same step
    job_steps.unregister("toy")
    assert step_of("Create a zone") == "Updating the DNS zone"
