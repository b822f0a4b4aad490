"""Script commands that do not depend on each other, run side by side.

Each command is still its own `python scripts/X.py ...` process, as a user types it. Most of such
a process's time is TensorFlow starting up on one core, so a test module starts its independent
commands together (as many at a time as there are cores) and each test waits for the ones it
checks:

    runs = {name: start(run, [script, *flags], cwd=...) for name, flags in ...}
    proc = runs[name].result()

start() also takes a function running several commands in turn (a chain whose steps depend on
each other); such a function calls run(), never start(), so the pool cannot wait on itself.
"""
import concurrent.futures
import os
import subprocess
import sys

JOBS = max(2, os.cpu_count() or 1)
_POOL = concurrent.futures.ThreadPoolExecutor(JOBS, thread_name_prefix="script-runs")


def run(args, cwd=None, env=None, timeout=600):
    """`python args...` (made strings) in a new process; the CompletedProcess, with text output."""
    return subprocess.run([sys.executable, *map(str, args)], cwd=None if cwd is None else str(cwd), env=env,
                          capture_output=True, text=True, timeout=timeout)


def start(fn, *args, **kwargs):
    """fn(*args, **kwargs) in the background, JOBS calls at a time; a Future of its result (which
    re-raises what the call raised)."""
    return _POOL.submit(fn, *args, **kwargs)
