"""Converters from the real checkpoint layouts, on slim synthetic files in those layouts.

Each synthetic file holds random weights written exactly as Keras (HDF5 attrs,
both dataset naming styles) or torch.save (torchvision / Gatys keys, OIHW) write
them; the converted params must give the same activations as an independent torch
VGG19 fed the raw arrays.
"""

from __future__ import annotations

import hashlib

import h5py
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch_reference as tr
from keras_h5 import write_keras_h5

from jaxstyle import cli
from jaxstyle.errors import WeightsError
from jaxstyle.model.layers import CONV_LAYERS
from jaxstyle.model.preprocess import CAFFE, GATYS, TORCHVISION
from jaxstyle.model.vgg import features, init_params
from jaxstyle.weights import convert, rescale, resolve, store

SLIM = (4, 8, 8, 8, 8)
LAYERS = ("relu1_1", "relu2_1", "relu3_2", "relu4_1", "relu5_4", "pool5")


@pytest.fixture(scope="module")
def raw():
    """Random slim weights as numpy: {layer: (HWIO kernel, bias)}."""
    p = init_params(jax.random.key(3), SLIM)
    return {k: (np.asarray(v["kernel"]), np.asarray(v["bias"])) for k, v in p.items()}


def _oihw(raw):
    return {k: (w.transpose(3, 2, 0, 1).copy(), b.copy()) for k, (w, b) in raw.items()}


def torchvision_sd(raw):
    sd = {}
    for name, (w, b) in _oihw(raw).items():
        idx = convert.TORCHVISION_INDEX[name]
        sd[f"features.{idx}.weight"] = torch.from_numpy(w)
        sd[f"features.{idx}.bias"] = torch.from_numpy(b)
    sd["classifier.0.weight"] = torch.zeros(2, 3)
    return sd


def gatys_sd(raw):
    sd = {}
    for name, (w, b) in _oihw(raw).items():
        sd[f"{name}.weight"] = torch.from_numpy(w)
        sd[f"{name}.bias"] = torch.from_numpy(b)
    return sd


@pytest.fixture(scope="module")
def reference(raw):
    """Activations of the torch VGG19 on the raw OIHW arrays (no jaxstyle code)."""
    x = np.random.default_rng(0).standard_normal((32, 40, 3)).astype(np.float32)
    weights = {k: (torch.from_numpy(w), torch.from_numpy(b)) for k, (w, b) in _oihw(raw).items()}
    with torch.no_grad():
        out = tr.vgg19(weights, tr.nchw(x))
    return x, {k: tr.hwc(out[k]) for k in LAYERS}


def _check_against_torch(params, reference):
    x, want = reference
    jparams = {k: {leaf: jnp.asarray(v) for leaf, v in d.items()} for k, d in params.items()}
    got = features(jparams, jnp.asarray(x), LAYERS, precision=jax.lax.Precision.HIGHEST)
    for k in LAYERS:
        np.testing.assert_allclose(np.asarray(got[k]), want[k], rtol=1e-5, atol=1e-5, err_msg=k)


@pytest.mark.parametrize("style", ["old", "new"])
def test_keras_h5(tmp_path, raw, reference, style):
    write_keras_h5(tmp_path / "k.h5", raw, style)
    params, pre = convert.from_keras_h5(tmp_path / "k.h5")
    assert pre == CAFFE
    assert list(params) == list(CONV_LAYERS)
    for k in CONV_LAYERS:
        assert params[k]["kernel"].dtype == np.float32
        np.testing.assert_array_equal(params[k]["kernel"], raw[k][0])
    _check_against_torch(params, reference)


def test_keras_h5_of_the_first_blocks(tmp_path, raw, reference):
    """A Keras file that stops after block 3 converts to the params of blocks 1-3."""
    write_keras_h5(tmp_path / "k.h5", raw, "old", blocks=3)
    params, _ = convert.from_keras_h5(tmp_path / "k.h5")
    assert list(params) == [n for n in CONV_LAYERS if int(n[4]) <= 3]
    x, want = reference
    got = features(params, jnp.asarray(x), ("relu1_1", "relu2_1", "relu3_2"))
    for k in ("relu1_1", "relu2_1", "relu3_2"):
        np.testing.assert_allclose(np.asarray(got[k]), want[k], rtol=1e-5, atol=1e-5, err_msg=k)
    write_keras_h5(tmp_path / "cut.h5", raw, "new", blocks=3, drop="conv3_4")
    with pytest.raises(WeightsError, match="conv3_4"):
        convert.from_keras_h5(tmp_path / "cut.h5")


def test_keras_h5_follows_weight_names_not_guesses(tmp_path, raw):
    """Datasets under unexpected names are found because weight_names says so."""
    path = tmp_path / "k.h5"
    write_keras_h5(path, raw, "new")
    with h5py.File(path, "a") as f:
        g = f["block3_conv2"]
        g.move("block3_conv2/kernel:0", "odd_kernel")
        g.attrs["weight_names"] = np.array([b"odd_kernel", b"block3_conv2/bias:0"])
    params, _ = convert.from_keras_h5(path)
    np.testing.assert_array_equal(params["conv3_2"]["kernel"], raw["conv3_2"][0])


@pytest.mark.parametrize("layout", ["torchvision", "gatys"])
def test_pth(tmp_path, raw, reference, layout):
    sd = torchvision_sd(raw) if layout == "torchvision" else gatys_sd(raw)
    torch.save(sd, tmp_path / "w.pth")
    params, pre = convert.from_state_dict(convert.load_pth(tmp_path / "w.pth"), layout)
    assert pre == (TORCHVISION if layout == "torchvision" else GATYS)
    _check_against_torch(params, reference)
    assert convert.guess_source(tmp_path / "w.pth") == layout


@pytest.mark.parametrize("style", ["old", "new"])
def test_keras_missing_layer(tmp_path, raw, style):
    write_keras_h5(tmp_path / "k.h5", raw, style, drop="conv4_3")
    with pytest.raises(WeightsError, match="conv4_3"):
        convert.from_keras_h5(tmp_path / "k.h5")


def test_keras_misshaped_layer(tmp_path, raw):
    write_keras_h5(tmp_path / "k.h5", raw, "new", reshape="conv2_1")
    with pytest.raises(WeightsError, match="conv2_1"):
        convert.from_keras_h5(tmp_path / "k.h5")


def test_keras_not_keras(tmp_path):
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f.create_dataset("a", data=np.zeros(3))
    with pytest.raises(WeightsError, match="layer_names"):
        convert.from_keras_h5(tmp_path / "x.h5")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(WeightsError, match="cannot read"):
        convert.from_keras_h5(tmp_path / "junk.h5")


@pytest.mark.parametrize("layout", ["torchvision", "gatys"])
def test_state_dict_missing_and_misshaped(raw, layout):
    sd = torchvision_sd(raw) if layout == "torchvision" else gatys_sd(raw)
    key = "features.21.weight" if layout == "torchvision" else "conv4_2.weight"
    bad = {k: v for k, v in sd.items() if k != key.replace("weight", "bias")}
    with pytest.raises(WeightsError, match="conv4_2"):
        convert.from_state_dict(bad, layout)
    gone = {k: v for k, v in sd.items() if not k.startswith(key.rsplit(".", 1)[0] + ".")}
    with pytest.raises(WeightsError, match="conv4_2"):
        convert.from_state_dict(gone, layout)
    wrong = dict(sd)
    wrong[key] = sd[key][:, :-1]
    with pytest.raises(WeightsError, match="conv4_2"):
        convert.from_state_dict(wrong, layout)


def test_pth_errors(tmp_path, monkeypatch):
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(WeightsError, match="cannot read"):
        convert.load_pth(tmp_path / "junk.pth")
    with pytest.raises(WeightsError, match="layout"):
        convert.from_state_dict({}, "caffe")
    monkeypatch.setitem(__import__("sys").modules, "torch", None)
    with pytest.raises(WeightsError, match=r"jaxstyle\[torch\]"):
        convert.load_pth(tmp_path / "junk.pth")


# --- convert.convert and the CLI -------------------------------------------------


@pytest.fixture(scope="module")
def originals(tmp_path_factory, raw):
    d = tmp_path_factory.mktemp("orig")
    write_keras_h5(d / "vgg19_notop.h5", raw, "new")
    torch.save(torchvision_sd(raw), d / "vgg19-tv.pth")
    torch.save(gatys_sd(raw), d / "vgg_conv.pth")
    return d


@pytest.fixture(scope="module")
def calib():
    return rescale.load_calibration(32)[:4]


@pytest.mark.parametrize(
    ("source", "name", "pre"),
    [
        ("keras", "vgg19_notop.h5", CAFFE),
        ("torchvision", "vgg19-tv.pth", TORCHVISION),
        ("gatys", "vgg_conv.pth", GATYS),
    ],
)
def test_weights_convert(tmp_path, originals, raw, calib, source, name, pre):
    out = tmp_path / "w.npz"
    meta = convert.convert(source, originals / name, out, calibration=calib)
    digest = hashlib.sha256((originals / name).read_bytes()).hexdigest()
    params, got = store.load_weights(out)
    assert got == meta
    assert got.checksum == f"sha256:{digest}" and got.preprocess == pre and got.normalised
    assert got.source == source
    means = rescale.mean_activations(params, calib, pre)
    live = np.asarray(got.info["mean_activation"]["conv3_1"]) > 0
    if source == "gatys":
        # Not rescaled: the weights are the file's, the info the measured means.
        assert got.info["rescaled"] is False
        np.testing.assert_array_equal(np.asarray(params["conv3_1"]["kernel"]), raw["conv3_1"][0])
        np.testing.assert_allclose(
            means["relu3_1"], got.info["mean_activation"]["conv3_1"], rtol=1e-5
        )
    else:
        assert got.info["rescaled"] is True
        np.testing.assert_allclose(means["relu3_1"][live], 1.0, atol=1e-3)
    assert [p.name for p in tmp_path.iterdir()] == ["w.npz"]


def test_cli_convert_and_info(tmp_path, originals, capsys, monkeypatch):
    monkeypatch.setenv("JAXSTYLE_HOME", str(tmp_path / "home"))
    out = tmp_path / "k.npz"
    src = originals / "vgg19_notop.h5"
    assert cli.main(["weights", "convert", "--source", "keras", str(src), "-o", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert cli.main(["weights", "info", str(out)]) == 0
    text = capsys.readouterr().out
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    assert "source:        keras" in text and f"sha256:{digest}" in text
    assert "BGR, scale 255" in text and "normalised:    yes" in text
    assert all(f"  {layer} " in text for layer in CONV_LAYERS)
    # Guessed source, default output in the cache.
    assert cli.main(["weights", "convert", str(originals / "vgg_conv.pth")]) == 0
    assert (tmp_path / "home" / "vgg19-gatys-normalised.npz").is_file()
    capsys.readouterr()
    # stylize accepts the original file and converts it into the cache once.
    monkeypatch.setattr(resolve, "convert", _counting(convert.convert, calls := []))
    monkeypatch.setattr(convert, "load_pth", _counting(convert.load_pth, decoded := []))
    resolved = resolve.resolve_weights(str(originals / "vgg19-tv.pth"))
    assert len(decoded) == 1  # its keys and its arrays from one decoding
    assert resolve.resolve_weights(str(originals / "vgg19-tv.pth")) == resolved
    assert len(calls) == 1 and len(decoded) == 1  # the sealed cache: not decoded again
    assert resolved.startswith(str(tmp_path / "home"))
    assert store.load_weights(resolved)[1].source == "torchvision"


def _counting(fn, calls):
    def wrapped(*args, **kwargs):
        calls.append(args)
        return fn(*args, **kwargs)

    return wrapped


@pytest.mark.parametrize("case", ["missing_layer", "misshaped", "no_file", "bad_npz", "txt"])
def test_cli_errors_one_line(tmp_path, raw, capsys, case):
    f = tmp_path / "w.h5"
    if case == "missing_layer":
        write_keras_h5(f, raw, "old", drop="conv5_2")
        argv, want = ["weights", "convert", str(f), "-o", str(tmp_path / "o.npz")], "conv5_2"
    elif case == "misshaped":
        write_keras_h5(f, raw, "new", reshape="conv1_2")
        argv, want = ["weights", "convert", str(f), "-o", str(tmp_path / "o.npz")], "conv1_2"
    elif case == "no_file":
        argv, want = ["weights", "convert", str(tmp_path / "nope.h5")], "not found"
    elif case == "bad_npz":
        (tmp_path / "x.npz").write_bytes(b"junk")
        argv, want = ["weights", "info", str(tmp_path / "x.npz")], "cannot read"
    else:
        (tmp_path / "w.txt").write_text("x")
        argv, want = (
            ["weights", "convert", str(tmp_path / "w.txt")],
            "expected .h5, .pth, .whl or .bin",
        )
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("jaxstyle: error:") and want in err
    assert not (tmp_path / "o.npz").exists()
