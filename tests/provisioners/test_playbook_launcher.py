"""provisioners/playbook_launcher.py: ansible-playbook's CLI with a quick exit, against this machine
(connection local). Same output and exit codes as the stock command, and the atexit clean-up runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from provisioners.ansible import LAUNCHER, run_playbook
from provisioners.base import PlaybookSpec, Target

KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIGtRMeUoXxYVtBDyP9QCy2JusoD6RgyGoAsIKrjeuMWM"
SECRET = "pä$$ word/+= 7"

PLAY = """
- hosts: all
  gather_facts: false
  tasks:
    - name: Say it
      ansible.builtin.debug:
        msg: "launched {{ word }}"
    - name: Fail when told to
      ansible.builtin.fail:
        msg: told to fail
      when: fail | bool
"""


def test_launcher_runs_the_playbook_and_keeps_exit_codes(tmp_path: Path):
    (tmp_path / "play.yml").write_text(PLAY)
    env = {
        **os.environ,
        "ANSIBLE_HOME": str(tmp_path / "home"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"),
        "ANSIBLE_CONFIG": "",
        "ANSIBLE_NOCOLOR": "True",
    }

    def run(fail: bool) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, LAUNCHER, "-i", "localhost,", "-c", "local", "-e", f"word=ok fail={fail}", "play.yml"],
            cwd=tmp_path,
            env={**env, "ANSIBLE_PYTHON_INTERPRETER": sys.executable},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    ok = run(False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "launched ok" in ok.stdout and "PLAY RECAP" in ok.stdout  # the output is flushed before the exit
    failed = run(True)
    assert failed.returncode == 2, failed.stdout + failed.stderr  # ansible-playbook's "a host failed"
    assert "told to fail" in failed.stdout
    # atexit handlers ran: Ansible's per-process local temp dir was removed as by a normal exit
    assert not list((tmp_path / "tmp").glob("ansible-local-*"))


LOCAL_PLAY = """
- hosts: all
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: Use the secret
      ansible.builtin.debug:
        msg: "secret is {{ the_secret }}"
    - name: Publish a value
      ansible.builtin.set_stats:
        data:
          govhost_answer: "{{ word }}"
    - name: Fail when told to
      ansible.builtin.fail:
        msg: told to fail
      when: fail | bool
"""


def test_run_playbook_through_the_launcher(tmp_path: Path):
    """The whole provisioner path (private dir, !unsafe vars, secrets file, runner, events, result)
    with a play that runs on this machine (connection local): nothing is sent anywhere."""
    (tmp_path / "play.yml").write_text(LOCAL_PLAY)
    target = Target("web1", "192.0.2.7", host_key_type="ssh-ed25519", host_key=KEY)
    key = tmp_path / "key"
    key.write_text("not used: the play connects locally\n")

    def run(fail: bool):
        events: list[dict] = []
        spec = PlaybookSpec(
            playbook="play.yml",
            project_dir=str(tmp_path),
            ssh_key=str(key),
            extravars={"word": "forty-two", "fail": fail},
        )
        result = run_playbook(
            spec, [target], on_event=events.append, timeout=300, secrets={"the_secret": SECRET}, workdir_parent=tmp_path
        )
        return result, events

    ok, events = run(False)
    assert ok.ok and ok.rc == 0, ok.explanation
    assert ok.data == {"govhost_answer": "forty-two"}
    names = [e["event"] for e in events]
    assert "runner_on_ok" in names and names[-1] == "playbook_on_stats"  # every event, the last one too
    assert SECRET not in repr(events)  # redacted as before
    failed, events = run(True)
    assert failed.status == "failed" and failed.rc == 2
    assert "told to fail" in failed.explanation
