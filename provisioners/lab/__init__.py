"""govhost lab: real Debian hosts in network namespaces, for tests, benchmarks and the demo.

Pure library (stdlib; click + rich only in cli.py): it must not import panel, flask or sqlalchemy.
Typical use:

    from provisioners import lab
    lab.build()                                   # once; cached tarball keyed by package list
    lab.net_up()                                  # routing guard first, then bridge lab0
    web1, = lab.hosts_up(["web1=10.77.0.11"], fresh=True)
    lab.host_reset("web1")                        # pristine again in ~0.1-0.3 s
    subprocess.run(lab.ssh_command(web1.ip, "hostname"))
    lab.lab_net_down()
"""

from .addresses import address_holders, assign, default_names, known_hosts, parse_spec
from .build import PACKAGES, base_path, build, debian_mirror, ensure_base, remove_base, tarball_path
from .common import (
    BRIDGE,
    DEFAULT_NET,
    GATEWAY,
    HOSTS_PATTERN,
    SUBNET,
    LabError,
    LabPaths,
    check_ip,
    check_name,
    lab_ip,
    lab_net,
    lab_paths,
)
from .discovery import Host, find_init
from .hosts import (
    host_exec,
    host_exec_argv,
    host_get,
    host_reset,
    hosts_down,
    hosts_up,
    lab_net_down,
    stop_host,
    upper_dir,
)
from .net import assert_pinned, guard_present, net_down, net_ready, net_up, port_open, route_dev, wait_port
from .ssh import (
    ansible_ssh_common_args,
    base_host_key,
    close_control_sockets,
    known_hosts_path,
    lab_key_path,
    ssh_args,
    ssh_command,
    ssh_options,
)

__all__ = [
    "BRIDGE",
    "DEFAULT_NET",
    "GATEWAY",
    "HOSTS_PATTERN",
    "PACKAGES",
    "SUBNET",
    "Host",
    "LabError",
    "LabPaths",
    "address_holders",
    "ansible_ssh_common_args",
    "assert_pinned",
    "assign",
    "base_host_key",
    "base_path",
    "build",
    "check_ip",
    "check_name",
    "close_control_sockets",
    "debian_mirror",
    "default_names",
    "ensure_base",
    "find_init",
    "guard_present",
    "host_exec",
    "host_exec_argv",
    "host_get",
    "host_reset",
    "hosts_down",
    "hosts_up",
    "known_hosts",
    "known_hosts_path",
    "lab_ip",
    "lab_key_path",
    "lab_net",
    "lab_net_down",
    "lab_paths",
    "net_down",
    "net_ready",
    "net_up",
    "parse_spec",
    "port_open",
    "remove_base",
    "route_dev",
    "ssh_args",
    "ssh_command",
    "ssh_options",
    "stop_host",
    "tarball_path",
    "upper_dir",
    "wait_port",
]
