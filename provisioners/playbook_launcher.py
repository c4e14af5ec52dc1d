"""ansible-playbook as govhost starts it: the same CLI, minus the interpreter's teardown at exit.

Run as a script (`python playbook_launcher.py <ansible-playbook arguments>`), never imported by
the panel. After the play recap a stock ansible-playbook spends about a second (0.2-1.5 s here,
more under load) tearing down the interpreter: freeing every object of the hundreds of modules
Ansible loaded; every job waited for it. Here, once the CLI has returned its exit code, the atexit
handlers run (Ansible's temp dir clean-up, multiprocessing's child reaping), non-daemon threads
are joined, stdout and stderr flushed, and the process ends with that code without the teardown.
Nothing else differs: same arguments, environment, callbacks, events and exit codes.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading


def main() -> None:
    # Run as a script, its own folder is first on the path, and provisioners/ansible.py would
    # shadow the ansible package.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    sys.argv[0] = "ansible-playbook"  # the CLI names itself after argv[0] (help, errors)
    from ansible.cli.playbook import main as playbook_main

    try:
        playbook_main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    for t in threading.enumerate():  # what the interpreter's own shutdown would wait for
        if t is not threading.main_thread() and not t.daemon:
            t.join()
    atexit._run_exitfuncs()  # the handlers a normal exit runs (os._exit skips them)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
