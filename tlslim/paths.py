"""Paths a command writes: checked before any work, and replaced only by complete, verified files.

    out = check_output_dir(FLAGS.output_dir, "--output_dir", "the comparison files")
    report = check_output_file(FLAGS.output, "--output", "the JSON report")
    with staging_dir(dest) as tmp:      # a new hidden directory inside dest: same filesystem
        ...                             # write and verify everything in tmp
        install(tmp, dest)              # then move it into place with os.replace, all or nothing
    with replacing(report) as tmp:      # write tmp; it replaces `report` only if the block succeeds
        ...

The checks raise a one-line TlslimError naming the flag: a directory path that is (or lies under)
a file, a file path that is a directory, a place the user cannot write to. Standard library only.
"""
import contextlib
import os
import shutil
import tempfile
import uuid

from tlslim.errors import TlslimError

__all__ = ["check_output_dir", "check_output_file", "install", "missing_dirs", "replacing", "staging_dir"]

STAGING_PREFIX = ".tlslim-tmp-"


def _given(path, flag, kind, what):
    if path is None or not str(path).strip():
        raise TlslimError(f"{flag} is empty; pass a {kind} path for {what}.")
    return os.path.expanduser(str(path))


def _nearest_existing(path):
    """`path`, or its closest ancestor that exists."""
    while not os.path.lexists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path


def _check_dir(directory, shown, flag, what):
    """TlslimError unless `directory` (absolute) is, or can be made as, a writable directory."""
    existing = _nearest_existing(directory)
    if not os.path.isdir(existing):
        raise TlslimError(f"{flag} {shown} cannot be a directory: {existing} is a file; pass a directory "
                          f"path for {what}.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise TlslimError(f"{flag} {shown} is not writable ({existing}); pass a directory you can write to.")


def check_output_dir(path, flag, what):
    """`path` (user-expanded) if it is, or can be made as, a directory this process can write
    in; else a TlslimError naming `flag` and `what` goes there. Nothing is created."""
    directory = _given(path, flag, "directory", what)
    _check_dir(os.path.abspath(directory), path, flag, what)
    return directory


def check_output_file(path, flag, what):
    """`path` (user-expanded) if a file can be written there: not a directory, in a directory that
    is, or can be made, writable; else a TlslimError naming `flag` and `what`. Nothing is created."""
    file = _given(path, flag, "file", what)
    full = os.path.abspath(file)
    if os.path.isdir(full) or file.endswith(("/", os.sep)):
        raise TlslimError(f"{flag} {path} is a directory; pass a file path for {what}.")
    _check_dir(os.path.dirname(full), path, flag, what)
    return file


def missing_dirs(directory):
    """The directories os.makedirs(directory) would create, outermost first."""
    missing = []
    while not os.path.lexists(directory) and os.path.dirname(directory) != directory:
        missing.append(directory)
        directory = os.path.dirname(directory)
    return missing[::-1]


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


@contextlib.contextmanager
def staging_dir(dest):
    """A new hidden directory inside `dest` (made if missing), for files that later replace files
    in `dest`: on the same filesystem, so `install` moves them with an atomic os.replace. It is
    removed when the block ends; if the block fails, so are the directories made for `dest`
    (when empty), leaving the disk as it was."""
    dest = os.path.abspath(os.path.expanduser(dest))
    made = missing_dirs(dest)
    os.makedirs(dest, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=dest)
    ok = False
    try:
        yield tmp
        ok = True
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if not ok:
            for directory in reversed(made):
                try:
                    os.rmdir(directory)
                except OSError:
                    break


def _entries(root):
    """Every non-directory entry under `root` (symbolic links to directories included), sorted."""
    found = []
    for directory, dirs, files in os.walk(root):
        found += [os.path.join(directory, n) for n in files]
        found += [os.path.join(directory, n) for n in dirs if os.path.islink(os.path.join(directory, n))]
    return sorted(found)


def install(staging, dest):
    """Move every file under `staging` to the same relative path under `dest` with os.replace,
    replacing what is there; returns the installed paths.

    Every target is checked first (a directory where a file should go stops it before anything
    moves). If a move fails, the files already moved are taken back out and the ones they replaced
    put back, so `dest` is either all new or as it was.
    """
    dest = os.path.abspath(dest)
    moves = [(src, os.path.join(dest, os.path.relpath(src, staging))) for src in _entries(staging)]
    for _, target in moves:
        blocker = target if os.path.isdir(target) and not os.path.islink(target) else None
        parent = _nearest_existing(os.path.dirname(target))
        blocker = blocker or (parent if not os.path.isdir(parent) else None)
        if blocker:
            raise TlslimError(f"cannot put {os.path.relpath(target, dest)} in {dest}: {blocker} is in the way "
                              f"({'a directory' if os.path.isdir(blocker) else 'a file'}); move it away and "
                              f"run again.")
    backup = tempfile.mkdtemp(prefix=STAGING_PREFIX + "old-", dir=dest)
    done = []
    try:
        for i, (src, target) in enumerate(moves):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            old = None
            if os.path.lexists(target):
                old = os.path.join(backup, str(i))
                os.replace(target, old)
            done.append((target, old))
            os.replace(src, target)
    except BaseException as err:
        for target, old in reversed(done):
            if old is None:
                _remove(target)
            else:
                os.replace(old, target)
        if isinstance(err, OSError):
            raise TlslimError(f"could not move the new files into {dest} ({err.strerror or err}); what was "
                              f"there is unchanged.") from None
        raise
    finally:
        shutil.rmtree(backup, ignore_errors=True)
    return [target for _, target in moves]


@contextlib.contextmanager
def replacing(path):
    """A new empty file beside `path` (same directory, same extension, so writers that go by the
    extension still work) to write instead; when the block succeeds it replaces `path` with
    os.replace, else it is removed. `path` is never seen half-written."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    name = os.path.basename(path)
    tmp = os.path.join(directory, f".{name}.{uuid.uuid4().hex[:8]}.tmp{os.path.splitext(name)[1]}")
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))  # 0o666: the umask applies, as for open()
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        _remove(tmp)
