"""A failed task's explanation carries the module's own message, also for tasks that handle secrets:
the real dovecot_users role, run by ansible-runner on this machine (connection local) against a
users file whose directory does not exist (a mail host whose mail role was never set up)."""

from __future__ import annotations

import sys
from pathlib import Path

import ansible_runner
import pytest

from provisioners.events import EventCollector

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
HASH = "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2g"


@pytest.mark.slow
def test_failed_module_message_reaches_the_explanation(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "batch.yml").write_text((PLAYBOOKS / "mailbox_batch.yml").read_text())
    missing = tmp_path / "no-dovecot-here"
    extravars = {
        "dovecot_users_file": str(missing / "users"),
        "dovecot_vmail_dir": str(tmp_path / "vmail"),
        "dovecot_archive_dir": str(tmp_path / "archive"),
        "govhost_mail_changes_json": '[{"address": "info@a.gov.kh", "quota_mb": 100, "state": "active"}]',
        "govhost_mail_hashes": {"info@a.gov.kh": HASH},
    }
    collector = EventCollector({"hash": HASH}, None)
    run = ansible_runner.run(
        private_data_dir=str(tmp_path),
        playbook="batch.yml",
        inventory=f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}",
        extravars=extravars,
        envvars={
            "ANSIBLE_ROLES_PATH": str(PLAYBOOKS / "roles"),
            "ANSIBLE_LIBRARY": str(PLAYBOOKS / "library"),
            "ANSIBLE_HOME": str(tmp_path / "home"),
            "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"),
            "ANSIBLE_NOCOLOR": "True",
        },
        quiet=True,
        suppress_env_files=True,
        event_handler=collector.handle,
    )
    result = collector.result(run.status, run.rc, 300)
    assert result.status == "failed"
    assert "No such file or directory" in result.explanation and str(missing) in result.explanation
    assert "no message" not in result.explanation
    assert HASH not in result.explanation and "c2FsdHNhbHRzYWx0" not in result.explanation
