"""tlslim.download against a loopback HTTP server and hand-made tarballs."""
import hashlib
import io
import os
import socket
import tarfile

import pytest

from tlslim import download
from tlslim.errors import TlslimError
from tlslim.testing.http import serve_directory


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    payload = os.urandom(300_000)  # several read chunks
    (root / "blob.bin").write_bytes(payload)
    with serve_directory(root) as base_url:
        yield base_url, payload


def test_fetch_downloads_exact_bytes_with_progress(served, tmp_path, capsys):
    base_url, payload = served
    dest = tmp_path / "out" / "blob.bin"
    result = download.fetch(base_url + "blob.bin", str(dest), md5=hashlib.md5(payload).hexdigest())
    assert result == str(dest)
    assert dest.read_bytes() == payload
    assert not os.path.exists(str(dest) + ".part")
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    # bytes, percent and rate on the final progress line
    assert last.startswith("blob.bin: 293.0 KB of 293.0 KB 100.0% ")
    assert last.endswith("/s")


def test_fetch_md5_mismatch_removes_the_file(served, tmp_path):
    base_url, _ = served
    dest = tmp_path / "blob.bin"
    with pytest.raises(TlslimError, match="expected 00000000000000000000000000000000") as err:
        download.fetch(base_url + "blob.bin", str(dest), md5="0" * 32, progress=False)
    assert "\n" not in str(err.value)
    assert not dest.exists() and not os.path.exists(str(dest) + ".part")


def test_fetch_http_error_suggests_from(served, tmp_path):
    base_url, _ = served
    dest = tmp_path / "missing.bin"
    with pytest.raises(TlslimError, match=r"HTTP 404.*--from PATH"):
        download.fetch(base_url + "missing.bin", str(dest), progress=False)
    assert not dest.exists() and not os.path.exists(str(dest) + ".part")


def test_fetch_connection_refused_suggests_from(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TlslimError, match=r"could not download .*--from PATH"):
        download.fetch(f"http://127.0.0.1:{port}/x.tar.gz", str(tmp_path / "x"), progress=False)


def test_fetch_rejects_other_schemes(tmp_path):
    with pytest.raises(TlslimError, match="only http:// and https://"):
        download.fetch("ftp://example.com/x", str(tmp_path / "x"))


def _tar(path, members):
    """members: list of (TarInfo kwargs, bytes or None)."""
    with tarfile.open(path, "w:gz") as tar:
        for kwargs, data in members:
            info = tarfile.TarInfo(kwargs.pop("name"))
            for k, v in kwargs.items():
                setattr(info, k, v)
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)


def test_extract_tarball_returns_extracted_paths(tmp_path):
    path = tmp_path / "ok.tar.gz"
    _tar(path, [({"name": "pkg", "type": tarfile.DIRTYPE, "mode": 0o755}, None),
                ({"name": "pkg/a.txt"}, b"alpha"),
                ({"name": "pkg/sub/b.txt"}, b"beta"),
                ({"name": "pkg/link", "type": tarfile.SYMTYPE, "linkname": "a.txt"}, None)])
    dest = tmp_path / "dest"
    paths = download.extract_tarball(str(path), str(dest))
    assert paths == [os.path.join(str(dest), p) for p in ("pkg", "pkg/a.txt", "pkg/sub/b.txt", "pkg/link")]
    assert (dest / "pkg" / "sub" / "b.txt").read_bytes() == b"beta"
    assert os.readlink(dest / "pkg" / "link") == "a.txt"


@pytest.mark.parametrize("member,why", [
    ({"name": "../evil.txt"}, "'..'"),
    ({"name": "ok/../../evil.txt"}, "'..'"),
    ({"name": "/tmp/tlslim_abs_evil.txt"}, "absolute path"),
    ({"name": "link", "type": tarfile.SYMTYPE, "linkname": "../../etc/passwd"}, "link to"),
    ({"name": "link", "type": tarfile.SYMTYPE, "linkname": "/etc/passwd"}, "link to"),
    ({"name": "hard", "type": tarfile.LNKTYPE, "linkname": "../outside"}, "hard link"),
    ({"name": "dev", "type": tarfile.CHRTYPE}, "device"),
])
def test_extract_tarball_refuses_unsafe_members(tmp_path, member, why):
    path = tmp_path / "bad.tar.gz"
    data = None if "type" in member else b"x"
    _tar(path, [({"name": "fine.txt"}, b"fine"), (dict(member), data)])
    dest = tmp_path / "dest"
    with pytest.raises(TlslimError, match=why) as err:
        download.extract_tarball(str(path), str(dest))
    assert "\n" not in str(err.value)
    assert not (dest / "fine.txt").exists()  # nothing is written before every member is checked
    assert not (tmp_path / "evil.txt").exists()
    assert not os.path.exists("/tmp/tlslim_abs_evil.txt")


def test_extract_tarball_corrupt_and_truncated(tmp_path):
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"this is not a tarball at all" * 100)
    with pytest.raises(TlslimError, match="corrupt or truncated"):
        download.extract_tarball(str(junk), str(tmp_path / "d1"))

    good = tmp_path / "good.tar.gz"
    _tar(good, [({"name": f"f{i}.bin"}, os.urandom(50_000)) for i in range(4)])
    data = good.read_bytes()
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(data[: len(data) // 2])
    dest = tmp_path / "d2"
    with pytest.raises(TlslimError, match="corrupt or truncated"):
        download.extract_tarball(str(truncated), str(dest))
    assert not any(dest.iterdir())

    with pytest.raises(TlslimError, match="does not exist"):
        download.extract_tarball(str(tmp_path / "nope.tar.gz"), str(dest))


def test_check_md5(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    download.check_md5(str(path), "900150983cd24fb0d6963f7d28e17f72")
    with pytest.raises(TlslimError, match="has MD5 900150983cd24fb0d6963f7d28e17f72, expected"):
        download.check_md5(str(path), "1" * 32)
