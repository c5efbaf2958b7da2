"""Converters from the real checkpoint layouts, on slim synthetic files in those layouts.

Each synthetic file holds random weights written exactly as Keras (HDF5 attrs,
both dataset naming styles) or torch.save (torchvision / Gatys keys, OIHW) write
them; the converted params must give the same activations as an independent torch
VGG19 fed the raw arrays.
"""

from __future__ import annotations

import h5py
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch_reference as tr

from jaxstyle import convert
from jaxstyle.errors import WeightsError
from jaxstyle.vgg import CAFFE, CONV_LAYERS, GATYS, TORCHVISION, features, init_params

SLIM = (4, 8, 8, 8, 8)
LAYERS = ("relu1_1", "relu2_1", "relu3_2", "relu4_1", "relu5_4", "pool5")


@pytest.fixture(scope="module")
def raw():
    """Random slim weights as numpy: {layer: (HWIO kernel, bias)}."""
    p = init_params(jax.random.key(3), SLIM)
    return {k: (np.asarray(v["kernel"]), np.asarray(v["bias"])) for k, v in p.items()}


def _oihw(raw):
    return {k: (w.transpose(3, 2, 0, 1).copy(), b.copy()) for k, (w, b) in raw.items()}


def write_keras_h5(path, raw, style="new", drop=None, reshape=None):
    """A Keras ``save_weights`` HDF5 file; ``style`` "old" (``_W_1:0``) or "new" (``/kernel:0``)."""
    names = []
    with h5py.File(path, "w") as f:
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.1.5" if style == "old" else b"2.2.4"
        names.append(b"input_1")
        f.create_group("input_1").attrs["weight_names"] = np.array([], dtype="S1")
        for b, depth in enumerate((2, 2, 4, 4, 4), start=1):
            for i in range(1, depth + 1):
                layer = f"block{b}_conv{i}"
                names.append(layer.encode())
                g = f.create_group(layer)
                name = f"conv{b}_{i}"
                if name == drop:
                    g.attrs["weight_names"] = np.array([], dtype="S1")
                    continue
                kernel, bias = raw[name]
                if name == reshape:
                    kernel = kernel[:, :, :, :-1]
                if style == "old":
                    wn = [f"{layer}_W_1:0", f"{layer}_b_1:0"]
                else:
                    wn = [f"{layer}/kernel:0", f"{layer}/bias:0"]
                g.attrs["weight_names"] = np.array([n.encode() for n in wn])
                g.create_dataset(wn[0], data=kernel)
                g.create_dataset(wn[1], data=bias)
            names.append(f"block{b}_pool".encode())
            f.create_group(f"block{b}_pool").attrs["weight_names"] = np.array([], dtype="S1")
        f.attrs["layer_names"] = np.array(names)


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
