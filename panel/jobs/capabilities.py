"""Job kinds: which playbook a kind runs, how its inputs are built, what it updates at the end.

The core's own job kinds (cap_hosts) load on first use; each capability registers its kinds in its
`jobs.py`, which the capability loader (panel.capabilities) imports from the manifest. This module
never imports a capability, and a capability never needs the runner. One job may carry many objects (a batch of sites on
one host): `build` turns them into one set of extravars for one playbook run.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from panel import security
from panel.config import Settings
from panel.errors import Invalid
from panel.models.hosts import Host, HostTransport
from panel.models.jobs import Job
from provisioners import ssh
from provisioners.base import ProvisionError, Result, Target, WinRM, source_for

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK_DIR = ROOT / "playbooks"
TEMPLATES_DIR = ROOT / "templates"

# The core's job kinds; capabilities' kinds are registered by the capability loader.
CORE_MODULES = ("panel.jobs.cap_hosts", "panel.jobs.noop")  # noop: the queue tests' kind

Build = tuple[dict, dict, list[Target]]  # extravars (user-derived, sent !unsafe), secrets, targets
BuildFn = Callable[[Job, Session], Build]
Hook = Callable[[Job, Session, Result], None]
# A kind that runs in the worker itself instead of a playbook: (params, cancelled?, on_event) -> Result.
LocalRun = Callable[[dict, Callable[[], bool], Callable[[dict], None]], Result]


def N_(text: str) -> str:
    """Marks a description for the translation catalog; the web shows it translated."""
    return text


def _nothing(job: Job, session: Session, result: Result) -> None:
    """Default hook: the job row itself is the only state."""


@dataclass(frozen=True)
class Capability:
    """kind: "sites.site_create"; playbook: file under playbooks/ (or an absolute path);
    build(job, session) -> (extravars, secrets, targets); on_success/on_failure(job, session,
    result) update domain rows in the transaction that finishes the job (result.status "error"
    when the worker died or raised)."""

    kind: str
    playbook: str
    build: BuildFn
    on_success: Hook = _nothing
    on_failure: Hook = _nothing
    timeout_s: int | None = None  # None: settings.ansible.timeout_s
    allow_down_hosts: bool = False  # host.ping may probe a host marked down
    description: str = ""  # what the job does, for people; mark it N_() (the web translates it)
    local: LocalRun | None = None  # set: no playbook, the worker runs this (core.noop)
    # The playbook run instead when the job's host runs Windows (IIS over SSH, docs/windows.md);
    # empty: the kind does not run on Windows hosts and such a job fails before anything is sent.
    windows_playbook: str = ""
    # What a finished run may write as its explanation, as N_() texts with %(name)s fields (the
    # API shows the English; the web matches the text and shows it in the reader's language).
    outcomes: tuple[str, ...] = ()
    # False: a `local` kind that only talks to a service on its hosts over the network (an RFC 2136
    # update to BIND), never changing their files. It neither waits for the host's running playbook
    # jobs nor makes them wait: such jobs have a lane of their own per host (one at a time there too),
    # so a site's DNS record is sent while its create job starts Ansible, not before it. Maintenance
    # still holds it.
    holds_hosts: bool = True

    def playbook_for(self, targets: Sequence[Target]) -> str:
        """The playbook file name for these targets (one OS per run: placement keeps them apart)."""
        systems = {t.os for t in targets}
        if systems <= {"linux"}:
            return self.playbook_name
        if systems != {"windows"}:
            raise ProvisionError(f"job kind {self.kind} cannot run on Linux and Windows hosts at once")
        if not self.windows_playbook:
            raise ProvisionError(f"job kind {self.kind} does not run on Windows hosts")
        return self.windows_playbook

    @property
    def project_dir(self) -> str:
        path = Path(self.playbook)
        return str(path.parent if path.is_absolute() else PLAYBOOK_DIR)

    @property
    def playbook_name(self) -> str:
        return Path(self.playbook).name


_registry: dict[str, Capability] = {}
_loaded = False
_settings: Settings | None = None


def configure(settings: Settings) -> None:
    """Called by queue.configure at boot: builders read paths and keys from the settings."""
    global _settings
    _settings = settings


def max_run_s(cap: Capability, settings: Settings) -> int:
    """Longest a job of this kind may stay running: its playbook timeout plus a minute to stop
    Ansible and record the end. Past it, any worker's reaper fails the job."""
    return (cap.timeout_s or settings.ansible.timeout_s) + 60


def settings() -> Settings:
    if _settings is None:
        raise RuntimeError("job capabilities not configured: boot() first")
    return _settings


def register(cap: Capability) -> Capability:
    """Add a kind; registering the same kind twice with another definition is a programming error."""
    old = _registry.get(cap.kind)
    if old is not None and old != cap:
        raise ValueError(f"job kind {cap.kind} is already registered")
    _registry[cap.kind] = cap
    return cap


def _load() -> None:
    global _loaded
    if not _loaded:
        for name in CORE_MODULES:
            importlib.import_module(name)
        _loaded = True


def unregister(kind: str) -> None:
    _registry.pop(kind, None)


def get(kind: str) -> Capability:
    _load()
    cap = _registry.get(kind)
    if cap is None:
        raise Invalid("job.kind_unknown", "There is no job kind {kind}.", field="kind", kind=str(kind)[:64])
    return cap


def find(kind: str) -> Capability | None:
    _load()
    return _registry.get(kind)


def kinds() -> list[str]:
    _load()
    return sorted(_registry)


def side_lane_kinds() -> tuple[str, ...]:
    """The kinds that do not hold their hosts (Capability.holds_hosts False)."""
    _load()
    return tuple(sorted(k for k, cap in _registry.items() if not cap.holds_hosts))


# ---- helpers for build functions ------------------------------------------------------------


def job_secrets(job: Job) -> dict[str, str]:
    """The secrets the job was submitted with (decrypted; never store or log them)."""
    return json.loads(security.unseal(job.secrets)) if job.secrets else {}


def job_hosts(job: Job, session: Session) -> list[Host]:
    ids = job.host_ids
    return list(session.scalars(select(Host).where(Host.id.in_(ids)).order_by(Host.id))) if ids else []


def source_address(address: str) -> str:
    """The local address connections to `address` leave from (settings.network), or ""."""
    net = settings().network
    return source_for(address, net.source_network, net.source_address)


def target_of(host: Host) -> Target:
    return Target(
        name=host.name,
        address=host.address,
        port=host.port,
        user=host.ssh_user or "root",
        host_key_type=host.host_key_type,
        host_key=host.host_key,
        source_address=source_address(host.address),
        os=host.os.value,
        winrm=winrm_of(host),
    )


def winrm_of(host: Host) -> WinRM | None:
    """A WinRM host's connection with its unsealed credentials (for this run only), else None."""
    if host.transport != HostTransport.WINRM:
        return None
    creds = json.loads(security.unseal(host.winrm_secret)) if host.winrm_secret else {}
    return WinRM(auth=host.winrm_auth, ca_bundle=settings().ansible.winrm_ca_bundle, **creds)


def host_targets(job: Job, session: Session) -> list[Target]:
    return [target_of(h) for h in job_hosts(job, session)]


def control_dir(conf: Settings) -> str:
    """Every run shares one ControlPath dir (settings.ansible.control_dir, default under the data
    dir), so ssh masters outlive a run; the test lab points it at its own dir, which a lab reset clears."""
    cp = Path(conf.ansible.control_dir) if conf.ansible.control_dir else conf.path("ssh-cp")
    cp.mkdir(parents=True, exist_ok=True, mode=0o700)
    return str(cp)


def host_command(target: Target, command: str, timeout: float = 60) -> ssh.CommandResult:
    """A `local` job kind's one fixed command on one host over the playbooks' SSH path (the panel's
    key, the pinned host key, the shared ControlPath), without an ansible-playbook start-up.
    Call it with no database transaction open."""
    conf = settings()
    return ssh.run_command(
        target,
        command,
        ssh_key=conf.ansible.ssh_key,
        control_dir=control_dir(conf),
        workdir_parent=conf.path("jobs"),
        timeout=timeout,
    )
