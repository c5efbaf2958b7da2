"""Downloads against a local HTTP server: mirror fallback, checksum, no partial files."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading

import pytest

from jaxstyle.errors import WeightsError
from jaxstyle.weights import fetch as ft

PAYLOAD = b"not really an h5 file " * 1000


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "w.h5").write_bytes(PAYLOAD)
    handler = functools.partial(_Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


MD5 = "md5:" + hashlib.md5(PAYLOAD).hexdigest()


def test_mirror_fallback_and_reuse(tmp_path, server):
    dest = tmp_path / "cache"
    urls = [f"{server}/missing.h5", f"{server}/w.h5"]
    path = ft.fetch("keras", urls=urls, checksum=MD5, dest_dir=dest)
    assert path.read_bytes() == PAYLOAD
    assert path.name == ft.ORIGINALS["keras"].filename
    assert [p.name for p in dest.iterdir()] == [path.name]
    # Present and valid: reused without any request (the URL does not exist).
    assert ft.fetch("keras", urls=[f"{server}/gone"], checksum=MD5, dest_dir=dest) == path


def test_prefix_checksum(tmp_path, server):
    prefix = "sha256:" + hashlib.sha256(PAYLOAD).hexdigest()[:8]
    path = ft.fetch("torchvision", urls=[f"{server}/w.h5"], checksum=prefix, dest_dir=tmp_path)
    assert path.read_bytes() == PAYLOAD


def test_bad_checksum_leaves_nothing(tmp_path, server):
    dest = tmp_path / "cache"
    with pytest.raises(WeightsError, match="checksum mismatch"):
        ft.fetch("keras", urls=[f"{server}/w.h5"], checksum="md5:" + "0" * 32, dest_dir=dest)
    assert list(dest.iterdir()) == []


def test_all_urls_fail(tmp_path, server):
    with pytest.raises(WeightsError, match="could not download keras weights"):
        ft.fetch("keras", urls=[f"{server}/a", f"{server}/b"], checksum=MD5, dest_dir=tmp_path)
    with pytest.raises(WeightsError, match="unknown weights source"):
        ft.fetch("caffe")


def test_cli_fetch_and_convert(tmp_path, server, monkeypatch, capsys):
    import jax
    import numpy as np
    from test_convert import SLIM, write_keras_h5

    from jaxstyle import cli
    from jaxstyle.cache import default_weights_path
    from jaxstyle.model.vgg import init_params
    from jaxstyle.weights import store

    p = init_params(jax.random.key(0), SLIM)
    raw = {k: (np.asarray(v["kernel"]), np.asarray(v["bias"])) for k, v in p.items()}
    www = tmp_path / "www"
    write_keras_h5(www / "k.h5", raw, "old")
    md5 = "md5:" + hashlib.md5((www / "k.h5").read_bytes()).hexdigest()
    orig = ft.Original("vgg19_notop.h5", (f"{server}/nope.h5", f"{server}/k.h5"), md5)
    monkeypatch.setitem(ft.ORIGINALS, "keras", orig)
    monkeypatch.setenv("JAXSTYLE_HOME", str(tmp_path / "home"))
    assert cli.main(["weights", "fetch", "keras"]) == 0
    out = capsys.readouterr().out
    assert "downloaded" in out and "wrote" in out
    _, meta = store.load_weights(default_weights_path("keras"))
    assert meta.source == "keras" and meta.normalised

    monkeypatch.setitem(ft.ORIGINALS, "gatys", ft.Original("g.pth", (f"{server}/x",), None))
    assert cli.main(["weights", "fetch", "gatys"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "could not download gatys" in err
