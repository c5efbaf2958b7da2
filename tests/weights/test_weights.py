"""The converted-weights file: round trip, metadata, and shape checks naming the layer."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from conftest import ZIP_UNSUPPORTED, zip_unsupported

from jaxstyle.errors import WeightsError
from jaxstyle.model.layers import CONV_LAYERS
from jaxstyle.model.preprocess import CAFFE
from jaxstyle.model.vgg import init_params
from jaxstyle.weights import store

SLIM = (4, 8, 8, 8, 8)


@pytest.fixture
def params():
    return init_params(jax.random.key(0), SLIM)


def test_roundtrip(tmp_path, params):
    meta = store.WeightsMeta("keras", CAFFE, normalised=True, checksum="abc", info={"n": 3})
    store.save_weights(tmp_path / "w.npz", params, meta)
    got, got_meta = store.load_weights(tmp_path / "w.npz")
    assert got_meta == meta and got_meta.info == {"n": 3}
    for layer in CONV_LAYERS:
        for leaf in ("kernel", "bias"):
            np.testing.assert_array_equal(
                np.asarray(got[layer][leaf]), np.asarray(params[layer][leaf])
            )
    assert [p.name for p in tmp_path.iterdir()] == ["w.npz"]


def _save_raw(path, arrays, meta=True):
    if meta:
        arrays["__meta__"] = np.frombuffer(
            store.WeightsMeta("test", CAFFE).to_json().encode(), np.uint8
        )
    np.savez(path, **arrays)


def _flat(params):
    return {f"{k}/{leaf}": np.asarray(v) for k, d in params.items() for leaf, v in d.items()}


@pytest.mark.parametrize("blocks", [1, 3, 4])
def test_first_blocks_only_roundtrip(tmp_path, blocks):
    """A file of VGG19's first blocks is a real file: saved, loaded, only those layers."""
    params = init_params(jax.random.key(0), SLIM[:blocks])
    held = [n for n in CONV_LAYERS if int(n[4]) <= blocks]
    assert sorted(params) == sorted(held)
    store.save_weights(tmp_path / "w.npz", params, store.WeightsMeta("test", CAFFE))
    got, _ = store.load_weights(tmp_path / "w.npz")
    assert sorted(got) == sorted(held)
    for layer in held:
        np.testing.assert_array_equal(np.asarray(got[layer]["kernel"]), params[layer]["kernel"])


def test_a_block_cut_short_names_its_missing_layer(tmp_path, params):
    arrays = {k: v for k, v in _flat(params).items() if int(k[4]) <= 3}
    del arrays["conv3_4/kernel"], arrays["conv3_4/bias"]
    _save_raw(tmp_path / "w.npz", arrays)
    with pytest.raises(WeightsError, match="conv3_4 is missing"):
        store.load_weights(tmp_path / "w.npz")
    with pytest.raises(WeightsError, match="conv1_1 is missing"):
        store.check_params({})


def test_wrong_shape_names_the_layer(tmp_path, params):
    arrays = _flat(params)
    arrays["conv3_2/kernel"] = np.zeros((3, 3, 8, 5), np.float32)
    _save_raw(tmp_path / "w.npz", arrays)
    with pytest.raises(WeightsError, match=r"conv3_2 kernel has shape \(3, 3, 8, 5\)"):
        store.load_weights(tmp_path / "w.npz")


def test_missing_layer_named(tmp_path, params):
    arrays = _flat(params)
    del arrays["conv4_3/kernel"], arrays["conv4_3/bias"]
    _save_raw(tmp_path / "w.npz", arrays)
    with pytest.raises(WeightsError, match="conv4_3 is missing"):
        store.load_weights(tmp_path / "w.npz")


def test_nan_weights_refused(tmp_path, params):
    arrays = _flat(params)
    arrays["conv1_1/bias"] = np.full_like(arrays["conv1_1/bias"], np.nan)
    _save_raw(tmp_path / "w.npz", arrays)
    with pytest.raises(WeightsError, match="conv1_1 bias holds NaN"):
        store.load_weights(tmp_path / "w.npz")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "cannot read"),
        (b"PK\x03\x04garbage", "cannot read"),
        (b"hello", "cannot read"),
    ],
)
def test_corrupt_files(tmp_path, content, match):
    (tmp_path / "w.npz").write_bytes(content)
    with pytest.raises(WeightsError, match=match):
        store.load_weights(tmp_path / "w.npz")


@pytest.mark.parametrize("how", sorted(ZIP_UNSUPPORTED))
def test_a_zip_the_reader_cannot_open_is_refused(tmp_path, params, how):
    _save_raw(tmp_path / "w.npz", _flat(params))
    (tmp_path / "w.npz").write_bytes(zip_unsupported((tmp_path / "w.npz").read_bytes(), how))
    with pytest.raises(WeightsError, match="cannot read"):
        store.load_weights(tmp_path / "w.npz")


def test_no_meta(tmp_path, params):
    _save_raw(tmp_path / "w.npz", _flat(params), meta=False)
    with pytest.raises(WeightsError, match="no __meta__"):
        store.load_weights(tmp_path / "w.npz")


def test_missing_file(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        store.load_weights(tmp_path / "nope.npz")


def test_save_refuses_bad_params(tmp_path, params):
    del params["conv5_4"]
    with pytest.raises(WeightsError, match="conv5_4"):
        store.save_weights(tmp_path / "w.npz", params, store.WeightsMeta("x", CAFFE))
    assert not (tmp_path / "w.npz").exists()
