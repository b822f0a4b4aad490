"""Downloads and tarballs: what the dataset and checkpoint downloaders share.

`fetch(url, dest_path, md5=None)` streams an http(s) URL into `dest_path + '.part'`, printing
one progress line (bytes, percent, rate), checks the MD5 when one is given, and only then
renames the file to `dest_path`, so an interrupted or corrupt download never looks complete.
`extract_tarball(path, dest_dir)` unpacks a (possibly gzipped) tarball, refusing members that
would land outside `dest_dir`. Both raise `TlslimError` with one line for anything a user can fix.
Standard library only.
"""
import hashlib
import http.client
import os
import shutil
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zlib

from tlslim.errors import TlslimError

_CHUNK = 1 << 16
_TIMEOUT_S = 60


def file_hash(path, algorithm="md5"):
    """Hex digest of the file at `path` (`algorithm`: a hashlib name), read in 1 MB blocks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def md5sum(path):
    """Hex MD5 of the file at `path`."""
    return file_hash(path, "md5")


def _human(num_bytes):
    for unit in ("B", "KB", "MB", "GB"):
        if num_bytes < 1024 or unit == "GB":
            return f"{num_bytes:.0f} {unit}" if unit == "B" else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1024.0


class _Progress:
    """One progress line on stderr: rewritten in place on a terminal, every 10% otherwise."""

    def __init__(self, name, total, enabled):
        self.name, self.total, self.enabled = name, total, enabled
        self.start = self.last = time.time()
        self.tty = enabled and sys.stderr.isatty()
        self.next_percent = 10

    def line(self, done):
        rate = done / max(time.time() - self.start, 1e-6)
        percent = f"{100.0 * done / self.total:5.1f}%" if self.total else "  ?  %"
        total = f" of {_human(self.total)}" if self.total else ""
        return f"{self.name}: {_human(done)}{total} {percent} {_human(rate)}/s"

    def update(self, done):
        if not self.enabled:
            return
        now = time.time()
        if self.tty:
            if now - self.last >= 0.2:
                self.last = now
                sys.stderr.write("\r" + self.line(done))
                sys.stderr.flush()
        elif self.total and 100.0 * done / self.total >= self.next_percent:
            self.next_percent += 10
            sys.stderr.write(self.line(done) + "\n")

    def finish(self, done):
        if self.enabled:
            sys.stderr.write(("\r" if self.tty else "") + self.line(done) + "\n")
            sys.stderr.flush()


def fetch(url, dest_path, md5=None, progress=True):
    """Download `url` (http:// or https://) to `dest_path` and return `dest_path`.

    Bytes go to `dest_path + '.part'`, renamed atomically once complete (and, when `md5` is
    given, once its MD5 matches; on a mismatch the file is removed and TlslimError raised).
    Network errors raise TlslimError suggesting `--from PATH` with a copy fetched elsewhere.
    """
    if not url.lower().startswith(("http://", "https://")):
        raise TlslimError(f"cannot download {url!r}: only http:// and https:// URLs are supported; "
                          "for a local file use --from PATH.")
    parent = os.path.dirname(os.path.abspath(dest_path))
    os.makedirs(parent, exist_ok=True)
    part = dest_path + ".part"
    name = os.path.basename(dest_path)
    digest = hashlib.md5()
    done = 0
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response, open(part, "wb") as out:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            bar = _Progress(name, total, progress)
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                bar.update(done)
            bar.finish(done)
        if total is not None and done != total:
            raise TlslimError(f"download of {url} stopped after {done} of {total} bytes; "
                              "run again, or download it elsewhere and pass --from PATH.")
    except TlslimError:
        _remove(part)
        raise
    except urllib.error.HTTPError as err:
        _remove(part)
        raise TlslimError(f"could not download {url}: HTTP {err.code} {err.reason}; check the URL, "
                          "or download the file elsewhere and pass --from PATH.") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as err:
        _remove(part)
        reason = getattr(err, "reason", None) or err
        raise TlslimError(f"could not download {url}: {reason}; check the network (or proxy), "
                          "or download the file elsewhere and pass --from PATH.") from None
    except BaseException:  # e.g. Ctrl-C: never leave a half-written .part behind
        _remove(part)
        raise
    if md5 is not None and digest.hexdigest() != md5.lower():
        _remove(part)
        raise TlslimError(f"{url} downloaded with MD5 {digest.hexdigest()}, expected {md5}; "
                          "the file was removed; run again, or pass --from PATH with a good copy.")
    os.replace(part, dest_path)
    return dest_path


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def check_md5(path, md5):
    """TlslimError unless the file at `path` has hex MD5 `md5`."""
    actual = md5sum(path)
    if actual != md5.lower():
        raise TlslimError(f"{path} has MD5 {actual}, expected {md5}; it is corrupt or a different "
                          "file: download it again.")


def _inside(root, path):
    root = os.path.realpath(root)
    path = os.path.realpath(path)
    return path == root or path.startswith(root + os.sep)


def _check_member(member, dest_dir, tar_path):
    name = member.name
    bad = None
    if os.path.isabs(name) or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        bad = "has an absolute path"
    elif ".." in name.replace("\\", "/").split("/"):
        bad = "climbs out with '..'"
    elif not _inside(dest_dir, os.path.join(dest_dir, name)):
        bad = "would be written outside the destination"
    elif member.issym():
        target = os.path.join(dest_dir, os.path.dirname(name), member.linkname)
        if os.path.isabs(member.linkname) or not _inside(dest_dir, target):
            bad = f"is a link to {member.linkname!r} outside the destination"
    elif member.islnk():
        if os.path.isabs(member.linkname) or not _inside(dest_dir, os.path.join(dest_dir, member.linkname)):
            bad = f"is a hard link to {member.linkname!r} outside the destination"
    elif not (member.isfile() or member.isdir()):
        bad = "is a device or fifo"
    if bad:
        raise TlslimError(f"refusing to extract {tar_path}: member {name!r} {bad}; "
                          "the tarball is not a genuine release file.")


def extract_tarball(path, dest_dir):
    """Extract tarball `path` (.tar, .tar.gz, ...) into `dest_dir`; return the extracted paths.

    Every member is checked first (and the archive read to its end, so a truncated or corrupt
    file fails before anything is written): absolute paths, '..', links leaving `dest_dir` and
    device files raise TlslimError.
    """
    if not os.path.isfile(path):
        raise TlslimError(f"tarball {path} does not exist; check the path.")
    os.makedirs(dest_dir, exist_ok=True)
    corrupt = (tarfile.TarError, EOFError, zlib.error, OSError)
    try:
        with tarfile.open(path, "r:*") as tar:
            members = tar.getmembers()  # reads the whole archive: detects truncation up front
    except corrupt as err:
        raise TlslimError(f"{path} is not a readable tarball ({err}); it is corrupt or truncated: "
                          "delete it and download it again.") from None
    for member in members:
        _check_member(member, dest_dir, path)
    try:
        with tarfile.open(path, "r:*") as tar:
            # Python >= 3.12 wants a filter; 'data' repeats the checks above as a second line.
            kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(dest_dir, members=tar.getmembers(), **kwargs)
            extracted = [os.path.join(dest_dir, m.name) for m in tar.getmembers()]
    except (tarfile.TarError, EOFError, zlib.error) as err:
        raise TlslimError(f"{path} is corrupt ({err}); delete it and download it again.") from None
    except OSError as err:
        raise TlslimError(f"could not extract {path} into {dest_dir}: {err}.") from None
    return extracted


def copy_file(src, dest_path):
    """Copy a local file into place with the same `.part` + atomic rename as `fetch`."""
    if not os.path.isfile(src):
        raise TlslimError(f"--from {src}: no such file; give the path of the downloaded file.")
    os.makedirs(os.path.dirname(os.path.abspath(dest_path)), exist_ok=True)
    if os.path.abspath(src) == os.path.abspath(dest_path):
        return dest_path
    part = dest_path + ".part"
    try:
        shutil.copyfile(src, part)
    except BaseException:
        _remove(part)
        raise
    os.replace(part, dest_path)
    return dest_path
