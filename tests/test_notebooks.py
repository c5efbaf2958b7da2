"""The notebooks: stored without outputs, in step with notebooks/build.py, and they run.

Each notebook runs headless (nbclient) in tiny mode (``JAXSTYLE_NOTEBOOK_TINY=1``, a slim
random weights file in ``$JAXSTYLE_WEIGHTS``), in a temporary directory, on a kernel that
is this interpreter with this checkout first on the path.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import SLIM, write_weights

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _build_module():
    spec = importlib.util.spec_from_file_location("notebooks_build", ROOT / "notebooks/build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_notebook_is_built_and_listed():
    build = _build_module()
    assert sorted(p.name for p in NOTEBOOKS) == sorted(build.NOTEBOOKS)
    index = (ROOT / "notebooks" / "README.md").read_text()
    for p in NOTEBOOKS:
        assert p.name in index, f"{p.name} missing from notebooks/README.md"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_without_outputs_and_up_to_date(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (path.name, cell.id)
    fresh = _build_module().build(path.name)
    assert [c.source for c in nb.cells] == [c.source for c in fresh.cells], (
        f"{path.name} differs from notebooks/build.py: run python notebooks/build.py"
    )


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory):
    """A python3 kernelspec running this interpreter, slim weights, tiny mode."""
    d = tmp_path_factory.mktemp("nbenv")
    spec = d / "kernels" / "python3"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps(
            {"argv": argv, "display_name": "Python 3 (jaxstyle tests)", "language": "python"}
        )
    )
    w = d / "slim.npz"
    write_weights(w, SLIM, source="random")
    return {
        # JUPYTER_PATH is searched first, so "python3" is the kernelspec above.
        "JUPYTER_PATH": str(d),
        "JUPYTER_PLATFORM_DIRS": "1",
        "JAXSTYLE_NOTEBOOK_TINY": "1",
        "JAXSTYLE_WEIGHTS": str(w),
        # This checkout, not whatever jaxstyle the environment has installed.
        "PYTHONPATH": str(ROOT),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_in_tiny_mode(path, kernel_env, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    for key, value in kernel_env.items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError, with the traceback, if a cell fails
    text = "".join(
        out.get("text", "") for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
    )
    # The kernel ran this checkout's jaxstyle in tiny mode on the slim weights.
    assert f"weights: {kernel_env['JAXSTYLE_WEIGHTS']} (random); 48 px, 3 iterations" in text
    assert f"jaxstyle {__import__('jaxstyle').__version__} from {ROOT / 'jaxstyle'}" in text
    written = {p.name for p in tmp_path.rglob("*.png")} | {p.name for p in tmp_path.rglob("*.mp4")}
    expected = {
        "quickstart.ipynb": {"tubingen_starry.png"},
        "functional_api.ipynb": {"custom_style_loss.png"},
        "paper_figures.ipynb": {"fig7.png", "fig7_result.png", "fig7_photoreal.png"},
        "controls.ipynb": {"tubingen_starry_16bit.png"},
        "video.ipynb": {"independent.mp4", "temporal.mp4"},
    }[path.name]
    assert expected <= written, written
