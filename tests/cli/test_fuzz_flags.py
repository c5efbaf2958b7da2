"""Fuzz: every string flag of ``jaxstyle stylize``, and the same strings through the API.

A case is a command line with a few flags given odd values (layer lists, weights,
blend weights, sizes, scales, numbers, choices); it runs with ``--dry-run`` (parsed,
validated, planned; nothing compiled). It must exit 0, or 2 with one line on stderr,
never a traceback, and write no output. The same strings go to :class:`Config`,
:func:`resolve` and the objective's specs, and ``--weights`` values to
:func:`resolve_weights` and :func:`load_weights`: each works or raises its named error.
"""

from __future__ import annotations

import numpy as np
import pytest
from fuzz import Counter, fuzz_settings
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from jaxstyle import cli
from jaxstyle.config import Config, resolve
from jaxstyle.errors import ConfigError, WeightsError
from jaxstyle.loss.objective import spec_of, weights_of
from jaxstyle.model.layers import LAYERS
from jaxstyle.weights.convert import SOURCES
from jaxstyle.weights.resolve import resolve_weights
from jaxstyle.weights.store import load_weights

TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
)
PLAUSIBLE = st.one_of(st.integers(1, 64).map(str), st.floats(0, 2).map(repr))
NUMBER = st.one_of(
    PLAUSIBLE,
    PLAUSIBLE,
    PLAUSIBLE,
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**40), 10**40).map(str),
    st.sampled_from(["0", "-0", "1e-3", "1e39", "nan", "-inf", "0x10", "1_000", " 2 ", ""]),
    TEXT,
)
LAYER = st.one_of(
    st.sampled_from(LAYERS), st.sampled_from(["relu6_1", "conv1_1", "RELU1_1", ""]), TEXT
)
LAYERS_ARG = st.lists(
    st.one_of(LAYER, st.tuples(LAYER, NUMBER).map(":".join)), min_size=0, max_size=4
).map(",".join)
COUNTS = st.one_of(
    st.lists(st.integers(1, 64), min_size=1, max_size=3, unique=True).map(
        lambda v: ",".join(map(str, sorted(v)))
    ),
    st.lists(NUMBER, max_size=4).map(",".join),
    NUMBER,
)

FLAGS = {
    "--content-layers": LAYERS_ARG,
    "--style-layers": LAYERS_ARG,
    "--style-blend-weights": st.lists(NUMBER, max_size=3).map(",".join),
    "--size": NUMBER,
    "--iterations": COUNTS,
    "--scales": COUNTS,
    "--ratio": NUMBER,
    "--tv-weight": NUMBER,
    "--style-scale": NUMBER,
    "--learning-rate": NUMBER,
    "--photorealism": NUMBER,
    "--history-size": NUMBER,
    "--tiles": NUMBER,
    "--devices": NUMBER,
    "--seed": NUMBER,
    "--jpeg-quality": NUMBER,
    "--save-every": NUMBER,
    "--checkpoint-every": NUMBER,
    "--weights": st.one_of(TEXT, TEXT.map(lambda t: t + ".h5"), TEXT.map(lambda t: t + ".pth")),
    "--init": st.one_of(st.sampled_from(["noise", "content", "style", "image"]), TEXT),
    "--optimizer": st.one_of(st.sampled_from(["lbfgs", "adam", "jaxopt", "optax"]), TEXT),
    "--linesearch": st.one_of(st.sampled_from(["none", "zoom", "strong-wolfe"]), TEXT),
    "--precondition": st.one_of(st.sampled_from(["none", "spectral"]), TEXT),
    "--memory": st.one_of(st.sampled_from(["auto", "off", "check"]), TEXT),
    "--shard": st.one_of(st.sampled_from(["batch", "spatial", "auto"]), TEXT),
    "--colors": st.one_of(st.sampled_from(["style", "luminance", "match", "swap"]), TEXT),
    "--weighting": st.one_of(st.sampled_from(["paper", "authors"]), TEXT),
    "--bit-depth": NUMBER,
}


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "c.png"
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((12, 16, 3)) * 255).astype(np.uint8)).save(path)
    return path


def _some(table: dict[str, st.SearchStrategy[str]]) -> st.SearchStrategy[dict[str, str]]:
    """One to four of ``table``'s flags, each with a value from its strategy."""
    names = st.dictionaries(st.sampled_from(sorted(table)), st.just(None), min_size=1, max_size=4)
    return names.flatmap(lambda d: st.fixed_dictionaries({k: table[k] for k in d}))


def _exits_cleanly(argv: list[str], flags: dict[str, str], out, capsys) -> None:
    """The command with ``flags`` exits 0, or 2 with one line and no traceback; no output."""
    try:
        code = cli.main([*argv, *(f"{k}={v}" for k, v in flags.items())])
    except SystemExit as e:  # argparse's own errors (one line, see cli.args.Parser)
        code = e.code
    err = capsys.readouterr().err
    assert code in (0, 2), (code, err)
    assert "Traceback" not in err
    if code == 2:
        assert len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_cli_flags(tmp_path, photo, capsys, record_property):
    count, out = Counter(), tmp_path / "out.png"

    @fuzz_settings(150, 3000)
    @given(flags=_some(FLAGS))
    def case(flags: dict[str, str]) -> None:
        count.tick()
        argv = ["stylize", str(photo), str(photo), "-o", str(out), "--dry-run", "--quiet"]
        _exits_cleanly(argv, flags, out, capsys)

    case()
    count.record(record_property)


FIELDS = {
    "content_layers": LAYERS_ARG,
    "style_layers": LAYERS_ARG,
    "style_blend_weights": st.lists(NUMBER, max_size=3).map(",".join),
}


def test_config_strings(record_property):
    count = Counter()

    @fuzz_settings(150)
    @given(field=st.sampled_from(sorted(FIELDS)), data=st.data())
    def case(field: str, data: st.DataObject) -> None:
        count.tick()
        value = data.draw(FIELDS[field])
        try:
            config = resolve(Config(**{field: value}), "cpu")
            weights_of(config, spec_of(config))
        except ConfigError as e:
            assert "\n" not in str(e)

    case()
    count.record(record_property)


def test_weights_values(tmp_path, monkeypatch, record_property):
    monkeypatch.setenv("JAXSTYLE_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    count = Counter()

    @fuzz_settings(60)
    @given(value=FLAGS["--weights"].filter(lambda v: v not in SOURCES))  # names fetch
    def case(value: str) -> None:
        count.tick()
        try:
            load_weights(resolve_weights(value))
        except WeightsError as e:
            assert "\n" not in str(e)

    case()
    count.record(record_property)


VIDEO_FLAGS = {
    "--start": NUMBER,
    "--frames": NUMBER,
    "--passes": NUMBER,
    "--temporal-weight": NUMBER,
    "--temporal-frames": COUNTS,
    "--blend": NUMBER,
    "--flow": st.one_of(st.sampled_from(["dis", "farneback"]), TEXT),
    "--window": NUMBER,
    "--size": NUMBER,
    "--iterations": COUNTS,
    "--scales": COUNTS,
    "--ratio": NUMBER,
    "--style-layers": LAYERS_ARG,
    "--colors": FLAGS["--colors"],
}


def test_video_flags(tmp_path, photo, capsys, record_property):
    """``jaxstyle video`` on a folder of two frames, odd values in its own flags and shared ones."""
    count, out = Counter(), tmp_path / "out"
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(2):
        (frames / f"{i}.png").write_bytes(photo.read_bytes())

    @fuzz_settings(60, 3000)
    @given(flags=_some(VIDEO_FLAGS))
    def case(flags: dict[str, str]) -> None:
        count.tick()
        argv = ["video", str(frames), str(photo), "-o", str(out), "--dry-run", "--quiet"]
        _exits_cleanly(argv, flags, out, capsys)

    case()
    count.record(record_property)
