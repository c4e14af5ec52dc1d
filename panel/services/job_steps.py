"""Plain-language steps for job progress: what a webmaster reads instead of Ansible's task names.

A job's events carry the playbook's task (or play) name, written for operators ("Validating
arguments against arg spec 'main'", "Pools of every site (php-fpm -t once per PHP version ...)").
People follow a job by a handful of steps instead; `step_of(task)` gives the step's English label,
which the surfaces translate (the labels are in the catalog). Operators still see the task name.

The core lists its own playbooks' tasks here; each capability lists its playbooks' tasks in its
steps module, which the loader registers (Manifest.steps). Every task and play name under
playbooks/ must have a step (tests/jobs/test_job_steps.py reads the playbooks): a renamed or new
task gets its step in the same change.
"""

from __future__ import annotations


def N_(text: str) -> str:
    """Marks a label for the translation catalog; the surfaces translate it when they show it."""
    return text


CHECK = N_("Checking the settings")
CONNECT = N_("Connecting to the server")
REPORT = N_("Reporting back to the panel")
PREPARE = N_("Preparing the server")
RESTART = N_("Restarting services")
OTHER = N_("Working on the server")

# The core's own playbooks (host ping, bootstrap, no-op); capabilities register theirs.
_CORE: dict[str, tuple[str, ...]] = {
    CONNECT: (
        "Gathering Facts",
        "Reach the host over SSH",
        "Reach the host",
        "Read the minimal facts",
        "Ping a managed host",
        "No-op",
        "Ping a Windows host",
        "Read the OS facts",
        "Read the IIS version",
        "Read the .NET Framework 4 release",
    ),
    REPORT: (
        "Publish the facts for the panel",
        "Publish the archives for the panel",
    ),
    PREPARE: (
        "Bootstrap a managed host",
        "Packages present",
        "Host name persisted",
        "Current host name read",
        "Host name set",
        "Host name resolves locally",
        "Time zone file",
        "Local time follows the time zone",
        "Service account present",
        "Service account SSH directory",
        "Service account keys",
        "Service account may use sudo without a password",
        "Key-only SSH logins",
        "Sites root present",
        "The govhost configuration directory",
        "Managed-host marker",
        "Bootstrap a Windows web host",
        "PowerShell is OpenSSH's default shell",
        "The OpenSSH server starts with Windows",
        "IIS features",
        "Reboot when a feature asks for it",
        "Firewall open for HTTP and HTTPS",
        "Site root and suspended page folders",
        "The bilingual suspended page",
        "The pool that serves the suspended page (no managed code)",
        "The default website stopped (govhost's sites take ports 80 and 443 by host name)",
    ),
    RESTART: ("Reload sshd",),
}
# task name -> step label, and which registrant (the core or a capability) gave it
STEPS: dict[str, str] = {}
_OWNER: dict[str, str] = {}
# Names Ansible makes itself: a role checking its arguments ("... arg spec 'main' - <description>").
_GENERATED = (("Validating arguments against arg spec", CHECK),)


class StepConflict(ValueError):
    """Two registrants give one task name different steps."""


def register(owner: str, groups: dict[str, tuple[str, ...]]) -> None:
    """Add a registrant's steps ({step label: task and play names}). Roles are shared between
    capabilities, so one task may be registered by several, always with the same step."""
    for step, tasks in groups.items():
        for task in tasks:
            if STEPS.get(task, step) != step:
                raise StepConflict(f"task {task!r}: {owner} says {step!r}, {_OWNER[task]} said {STEPS[task]!r}")
            if task not in STEPS:
                STEPS[task], _OWNER[task] = step, owner


def unregister(owner: str) -> None:
    for task in [t for t, o in _OWNER.items() if o == owner]:
        del STEPS[task], _OWNER[task]


def step_of(task: str) -> str:
    """The plain-language step (English, translate it to show it) of a task or play name."""
    task = (task or "").strip()
    step = STEPS.get(task)
    if step is not None:
        return step
    for prefix, generated in _GENERATED:
        if task.startswith(prefix):
            return generated
    return OTHER


register("core", _CORE)
