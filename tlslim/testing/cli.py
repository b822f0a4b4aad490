"""Running tlslim's scripts as a user does, for tests: a subprocess, its exit code, its one error
line, and the files it leaves behind.

    proc = run_script("download_checkpoint.py", "vgg_16", "--dest", dest, cwd=tmp_path)
    assert one_error_line(proc) == f"error: --dest {dest} cannot be a directory: ..."
    before = snapshot(dest); ...; assert snapshot(dest) == before      # byte for byte, hidden files too

The scripts are those of the source tree this package sits in (scripts/ beside tlslim/).
"""
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = os.path.join(REPO, "scripts")


def script_names():
    """The scripts' file names, sorted."""
    return sorted(n for n in os.listdir(SCRIPTS) if n.endswith(".py"))


def run_script(name, *args, cwd=None, timeout=600, env=None):
    """Run scripts/`name` with `args` (made strings) in a new Python process; returns the
    CompletedProcess with text stdout and stderr."""
    return subprocess.run([sys.executable, os.path.join(SCRIPTS, name), *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def error_lines(proc):
    """The `error: ...` lines of a finished script's stderr."""
    return [line for line in proc.stderr.splitlines() if line.startswith("error: ")]


def one_error_line(proc):
    """The script's one error line, once it is checked that the script exited 2 with exactly one
    such line and no traceback (AssertionError with its stderr otherwise)."""
    lines = error_lines(proc)
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, \
        f"exit {proc.returncode}, stderr:\n{proc.stderr[-3000:]}"
    return lines[0]


def snapshot(directory):
    """{relative path: file bytes, or None for a directory, or 'link -> target'} of everything
    under `directory` (hidden entries included); {} when it does not exist."""
    found = {}
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, directory)
            if os.path.islink(path):
                found[rel] = f"link -> {os.readlink(path)}"
            elif os.path.isdir(path):
                found[rel] = None
            else:
                with open(path, "rb") as f:
                    found[rel] = f.read()
    return found
