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


RESCUED = """---
- name: A failure a block's rescue handles
  hosts: all
  gather_facts: false
  tasks:
    - name: Try
      block:
        - name: Fails
          ansible.builtin.fail:
            msg: the CA said no
      rescue:
        - name: Handled
          ansible.builtin.set_stats:
            data:
              handled: "{{ ansible_failed_result.msg }}"
            per_host: false
"""


@pytest.mark.slow
@pytest.mark.parametrize("rescue", [True, False])
def test_a_rescued_failure_does_not_fail_the_job(tmp_path, rescue):
    """Ansible's summary counts no failure for a rescued task: neither does the job (a failure
    without a rescue still fails it, with its message)."""
    project = tmp_path / "project"
    project.mkdir()
    text = RESCUED if rescue else RESCUED.split("      rescue:")[0]
    (project / "play.yml").write_text(text)
    collector = EventCollector({}, None)
    run = ansible_runner.run(
        private_data_dir=str(tmp_path),
        playbook="play.yml",
        inventory=f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}",
        event_handler=collector.handle,
        quiet=True,
    )
    result = collector.result(run.status, run.rc, 60)
    if rescue:
        assert result.status == "successful" and result.data.get("handled") == "the CA said no"
        assert collector.failures and result.stats["localhost"]["rescued"] == 1
    else:
        assert result.status == "failed" and "the CA said no" in result.explanation


def test_a_loop_failure_is_explained_by_its_failed_item():
    """A loop's own result says only "One or more items failed" / "All items completed": the
    explanation takes the failed (or unreachable) item's message (found by the Windows wire tests)."""
    collector = EventCollector({"s3cret": "s3cret"}, None)
    items = [
        {"failed": False, "msg": "", "item": "a"},
        {"failed": True, "msg": "Cannot add duplicate binding s3cret", "item": "b"},
    ]
    collector.handle(
        {
            "event": "runner_on_failed",
            "event_data": {
                "host": "win1",
                "task": "Website",
                "res": {"msg": "One or more items failed", "results": items},
            },
        }
    )
    unreachable = [{"unreachable": True, "msg": "Failed to connect to the host via ssh: Connection refused"}]
    collector.handle(
        {
            "event": "runner_on_unreachable",
            "event_data": {
                "host": "win2",
                "task": "Folders",
                "res": {"msg": "All items completed", "results": unreachable},
            },
        }
    )
    text = collector.explanation("failed", 2, 60)
    assert "Task 'Website' failed on win1: Cannot add duplicate binding ********" in text
    assert "s3cret" not in text
    assert "Host win2 could not be reached over SSH: Failed to connect to the host via ssh: Connection refused" in text


def test_a_changed_host_key_is_said_first():
    collector = EventCollector({}, None)
    ssh_said = (
        "Data could not be sent to remote host. @@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@@ "
        + "IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY! " * 10
        + "Host key verification failed."
    )
    collector.handle({"event": "runner_on_unreachable", "event_data": {"host": "h1", "res": {"msg": ssh_said}}})
    looped = {"msg": "All items completed", "results": [{"unreachable": True, "msg": ssh_said}]}
    collector.handle({"event": "runner_on_unreachable", "event_data": {"host": "h2", "res": looped}})
    text = collector.explanation("failed", 4, 60)
    assert text.startswith("Host h1 could not be reached over SSH: its SSH host key is not the one govhost pinned")
    assert "Host h2 could not be reached over SSH: its SSH host key is not the one govhost pinned" in text
