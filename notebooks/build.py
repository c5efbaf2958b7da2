"""Writes the notebooks in this folder from the cell sources below, outputs stripped.

Edit the cells here and run ``python notebooks/build.py``; ``tests/test_notebooks.py``
checks that the stored ``.ipynb`` files match this script and carry no outputs. The
cells only call jaxstyle's public API: a notebook holds no logic the package lacks.

Every notebook honours ``JAXSTYLE_NOTEBOOK_TINY=1``: synthetic slim weights (the file
in ``$JAXSTYLE_WEIGHTS``, or one the notebook writes), 48 px and 3 iterations, so CI
runs them in seconds. Without it they use the real (fetched, converted) weights and the
CLI's sizes: 512 px / 500 iterations on a GPU/TPU, ``jaxstyle.cli.DEFAULTS["cpu"]`` on
a CPU.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
COLAB = "https://colab.research.google.com/github/jaxstyle/jaxstyle/blob/main/notebooks"


def badge(name: str) -> str:
    return f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]({COLAB}/{name})"


INSTALL = """\
# On Colab (or anywhere jaxstyle is missing), install it from the repository.
import importlib.util
import subprocess
import sys

if importlib.util.find_spec("jaxstyle") is None:
    url = "git+https://github.com/jaxstyle/jaxstyle"
    subprocess.check_call(
        [sys.executable, "-m", "pip", "install", "-q", f"jaxstyle[figures] @ {url}"]
    )"""

SETUP = """\
import os
from pathlib import Path

import jax
import matplotlib.pyplot as plt

import jaxstyle as js
from jaxstyle import cli

print(f"jaxstyle {js.__version__} from {Path(js.__file__).parent}")
print("jax", jax.__version__, "| backend:", jax.default_backend(), "| devices:", jax.devices())

# JAXSTYLE_NOTEBOOK_TINY=1: slim random weights, tiny images, a few iterations (CI).
TINY = os.environ.get("JAXSTYLE_NOTEBOOK_TINY") == "1"
if TINY:
    WEIGHTS = os.environ.get("JAXSTYLE_WEIGHTS") or "tiny-random-vgg19.npz"
    if not Path(WEIGHTS).is_file():
        slim = js.init_params(jax.random.key(0), widths=(8, 16, 16, 24, 24))
        js.save_weights(WEIGHTS, slim, js.WeightsMeta("random", js.CAFFE))
    SIZE, ITERATIONS = 48, 3
else:
    # Same as `--weights keras`: downloaded (md5-checked), converted and normalised
    # once, then cached in ~/.cache/jaxstyle.
    WEIGHTS = cli.resolve_weights("keras")
    defaults = cli.DEFAULTS["cpu" if jax.default_backend() == "cpu" else "accelerator"]
    SIZE, ITERATIONS = defaults["size"], defaults["iterations"]
params, meta = js.load_weights(WEIGHTS)
pre = meta.preprocess
print(f"weights: {WEIGHTS} ({meta.source}); {SIZE} px, {ITERATIONS} iterations")"""


def quickstart() -> list:
    return [
        new_markdown_cell(
            f"""# jaxstyle quickstart

{badge("quickstart.ipynb")}

Gatys, Ecker & Bethge (CVPR 2016) style transfer: the bundled Tübingen photo painted
in the style of *The Starry Night*, found by L-BFGS on the pixels. On a GPU runtime
this is the paper's 512 px and 500 iterations; on a CPU it uses the CLI's smaller
defaults. Set `JAXSTYLE_NOTEBOOK_TINY=1` for a seconds-long smoke run with random
weights (what CI does)."""
        ),
        new_code_cell(INSTALL),
        new_code_cell(SETUP),
        new_markdown_cell("## Inputs\n\nRGB float32 arrays in [0, 1], shape `(H, W, 3)`."),
        new_code_cell(
            """import numpy as np

content = js.load_image(js.bundled("tubingen.jpg"), size=SIZE)
style = js.load_image(js.bundled("starry_night.jpg"))
content.shape, style.shape"""
        ),
        new_markdown_cell(
            "## Stylise\n\nThe paper's layers: content at `relu4_2`, style at "
            "`relu1_1 … relu5_1` with `w_l = 1/5`, white-noise start. The loss is weighted "
            "as the authors' code weights it, at the default ratio 2e-2 (it stands for the "
            'paper\'s $\\alpha/\\beta$ = 1e-3; `weighting="paper"` runs the equations '
            "literally, see the README's *Loss weighting*)."
        ),
        new_code_cell(
            """config = js.Config(ratio=2e-2, init="noise", iterations=ITERATIONS)


def report(done, image, history):
    print(f"{done:4d} iterations, loss {history.total[-1]:.4g}")


result = js.stylize(content, style, params, pre, config, key=jax.random.key(0), callback=report)
result.image.shape"""
        ),
        new_code_cell(
            """fig, axes = plt.subplots(1, 3, figsize=(13, 4))
for ax, img, title in zip(
    axes, (content, style, result.image), ("content", "style", "result"), strict=True
):
    ax.imshow(img)
    ax.set_title(title)
    ax.axis("off")
plt.show()"""
        ),
        new_markdown_cell(
            "## Loss curves\n\n`Result.history` has one value per iteration: the "
            "content loss and each style layer's `E_l`, unweighted."
        ),
        new_code_cell(
            """h = result.history
fig, ax = plt.subplots(figsize=(7, 4))
steps = np.arange(1, len(h.total) + 1)
ax.semilogy(steps, h.content, label="content (relu4_2)", linewidth=2)
for layer, curve in h.style.items():
    ax.semilogy(steps, curve, label=f"style {layer}")
ax.set_xlabel("L-BFGS iteration")
ax.set_ylabel("loss (unweighted)")
ax.legend()
plt.show()"""
        ),
        new_code_cell(
            """js.save_image("tubingen_starry.png", result.image)  # written atomically
print("saved", Path("tubingen_starry.png").resolve())"""
        ),
    ]


def functional_api() -> list:
    return [
        new_markdown_cell(
            f"""# The functional API

{badge("functional_api.ipynb")}

jaxstyle's pieces are pure functions of arrays: `features` (VGG19 activations by
name), `gram`, `make_targets`, `objective` (`x -> (loss, terms)`, ready for
`jax.grad`), and the optimiser's `init_state` / `run_chunk`. This notebook takes the
gradient by hand, swaps layers and weights, inspects Gram matrices, drives the
optimiser step by step, and optimises a custom style loss. Set
`JAXSTYLE_NOTEBOOK_TINY=1` for a tiny run with random weights."""
        ),
        new_code_cell(INSTALL),
        new_code_cell(SETUP),
        new_code_cell(
            """import jax.numpy as jnp
import numpy as np

from jaxstyle import optimize

content = jnp.asarray(js.load_image(js.bundled("tubingen.jpg"), size=SIZE))
h, w = content.shape[:2]
# make_targets takes the style at the size it is used (stylize does this resize itself).
style = optimize.resize(jnp.asarray(js.load_image(js.bundled("starry_night.jpg"))), h, w)
# optax: its compiled L-BFGS step is driven by hand below (the default, "lbfgs", is
# stepped from Python by stylize itself, one compiled evaluation per call).
config = js.Config(iterations=ITERATIONS, optimizer="optax")
targets = js.make_targets(params, content, style, config, pre)
{k: v.shape for k, v in targets.style.items()}"""
        ),
        new_markdown_cell(
            "## The gradient of Eq. 7, by hand\n\nThe image lives in the network's input "
            "space (`pre.apply`), as in the paper's code."
        ),
        new_code_cell(
            """f = js.objective(params, targets, config, pre)
x = pre.apply(content)
(loss, terms), grad = jax.value_and_grad(f, has_aux=True)(x)
print(f"L_total = {loss:.4g}, L_content = {terms['content']:.4g}")
print({k: f"{v:.3g}" for k, v in terms["style"].items()})
print("gradient:", grad.shape, "norm", float(jnp.linalg.norm(grad)))"""
        ),
        new_markdown_cell(
            "## Swap layers and weights\n\nContent at `relu2_2`, style on two layers "
            "with unequal weights, a ratio of 0.2 (ten times the default's, less "
            "stylised). Targets depend on the layers, so they are recomputed."
        ),
        new_code_cell(
            """config2 = js.Config(
    content_layers="relu2_2",
    style_layers={"relu1_1": 0.75, "relu3_1": 0.25},
    ratio=0.2,
    iterations=ITERATIONS,
)
targets2 = js.make_targets(params, content, style, config2, pre)
loss2, terms2 = js.objective(params, targets2, config2, pre)(x)
print(f"L_total = {loss2:.4g}; style layers: {list(terms2['style'])}")"""
        ),
        new_markdown_cell(
            "## Gram matrices\n\n`G = F Fᵀ` of the style image at two layers, next to "
            "the generated image's at the start (the content photo)."
        ),
        new_code_cell(
            """feats = js.features(params, pre.apply(content), ("relu1_1", "relu3_1"))
fig, axes = plt.subplots(2, 2, figsize=(8, 8))
for col, layer in enumerate(("relu1_1", "relu3_1")):
    for row, (name, gram) in enumerate(
        (("style", targets.style[layer]), ("content photo", js.gram(feats[layer])))
    ):
        axes[row, col].imshow(np.log1p(np.abs(np.asarray(gram))), cmap="magma")
        axes[row, col].set_title(f"{name}: log(1 + |G|) at {layer} {gram.shape}")
        axes[row, col].axis("off")
plt.show()
print("E_l at the content photo:", {k: f"{v:.3g}" for k, v in terms["style"].items()})"""
        ),
        new_markdown_cell(
            "## The optimiser, step by step\n\n`optimize.init_state` and "
            "`optimize.run_chunk` are the jitted pieces `stylize` loops over; here one "
            "iteration per call, from white noise."
        ),
        new_code_cell(
            """x0 = optimize.initial_image(content, style, config, pre, jax.random.key(0))
state = optimize.init_state(x0, params, targets, config, pre)
for _ in range(ITERATIONS):
    state, hist = optimize.run_chunk(state, params, targets, jnp.int32(1), config, pre)
    print(
        f"iteration {int(state.iteration)}: loss {float(hist['total'][0]):.4g}, "
        f"{int(hist['evaluations'][0])} evaluations"
    )"""
        ),
        new_markdown_cell(
            """## A custom style loss

`stylize` has no hook for a user-written loss, and needs none: write the objective
from `features` and `gram` and hand it to any optimiser. Here style is matched by the
per-channel mean and standard deviation of the features (a cheaper statistic than the
Gram matrix), plus the paper's content term, optimised with `optax.lbfgs` in a jitted
step."""
        ),
        new_code_cell(
            """import optax

LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2")
style_feats = js.features(params, pre.apply(style), LAYERS)
content_feats = js.features(params, pre.apply(content), ("relu4_2",))


def moments(f):
    flat = f.reshape(-1, f.shape[-1])
    return flat.mean(axis=0), flat.std(axis=0)


def my_loss(x):
    f = js.features(params, x, LAYERS)
    style_term = 0.0
    for layer in LAYERS[:4]:
        (m, s), (m0, s0) = moments(f[layer]), moments(style_feats[layer])
        style_term += jnp.sum((m - m0) ** 2) + jnp.sum((s - s0) ** 2)
    content_term = js.content_loss(f["relu4_2"], content_feats["relu4_2"])
    return 1e-3 * content_term + style_term


opt = optax.lbfgs()
value_and_grad = optax.value_and_grad_from_state(my_loss)


@jax.jit
def step(x, opt_state):
    value, g = value_and_grad(x, state=opt_state)
    updates, opt_state = opt.update(g, opt_state, x, value=value, grad=g, value_fn=my_loss)
    return optax.apply_updates(x, updates), opt_state, value


x = x0
opt_state = opt.init(x)
for i in range(ITERATIONS):
    x, opt_state, value = step(x, opt_state)
    print(f"step {i + 1}: loss {float(value):.4g}")
custom = np.clip(np.asarray(pre.invert(x)), 0, 1)
js.save_image("custom_style_loss.png", custom)
plt.imshow(custom)
plt.axis("off")
plt.show()"""
        ),
    ]


def paper_figures() -> list:
    return [
        new_markdown_cell(
            f"""# The paper's figures

{badge("paper_figures.ipynb")}

Figs. 3-7 of Gatys et al. (2016) with the bundled images, through `jaxstyle.figures`
(the same code as `jaxstyle figures N -o DIR`). Each figure's panels run as **one**
batched, compiled stylisation. Stand-ins for what is not bundled: Hokusai's *Great
Wave* for Picasso's *Femme nue assise* (Fig. 3 E, in copyright), *The Starry Night*
for Feininger's *Jesuiten III* (Fig. 5), a city at sunset onto the Golden Gate Bridge
by day for New York by night onto London (Fig. 7). With `JAXSTYLE_NOTEBOOK_TINY=1`
only Fig. 7 runs, at 48 px with random weights."""
        ),
        new_code_cell(INSTALL),
        new_code_cell(SETUP),
        new_code_cell(
            """from IPython.display import Image, display

from jaxstyle import figures

NUMBERS = (7,) if TINY else figures.FIGURES
base = js.Config(iterations=ITERATIONS)
note = f"{SIZE} px, {ITERATIONS} iterations, {base.optimizer}, weights: {meta.source}"
runs = {}
for n in NUMBERS:
    spec = figures.figure(n, base)
    runs[n] = figures.run(spec, params, pre, size=SIZE)
    paths = figures.save(runs[n], "figures", note=note)
    print(f"Fig. {n}: {len(spec.results)} panels in one batch, {runs[n].seconds:.1f} s")
    display(Image(filename=str(paths[0])))"""
        ),
        new_markdown_cell(
            "## Batched against one by one\n\nThe same figure computed one panel at a "
            "time (Fig. 4's 20 panels on a real run; Fig. 7 in tiny mode). Both timings "
            "include compilation."
        ),
        new_code_cell(
            """n = NUMBERS[0] if TINY else 4
one_by_one = figures.run_sequential(figures.figure(n, base), params, pre, size=SIZE)
c = figures.compare(runs[n], one_by_one)
print(
    f"Fig. {n}: batched {c.batched_s:.1f} s, one by one {c.sequential_s:.1f} s "
    f"({c.sequential_s / c.batched_s:.2f}x); largest pixel difference {c.max_abs_diff:.2g}"
)"""
        ),
        new_markdown_cell("## Loss curves of the panels (Fig. 4; Fig. 7 in tiny mode)"),
        new_code_cell(
            """n = NUMBERS[0] if TINY else 4
fig, ax = plt.subplots(figsize=(7, 4))
for name, history in runs[n].histories.items():
    ax.semilogy(history.total, label=name)
ax.set_xlabel("L-BFGS iteration")
ax.set_ylabel("total loss")
ax.legend(fontsize=6, ncol=2)
plt.show()"""
        ),
    ]


NOTEBOOKS = {
    "quickstart.ipynb": quickstart,
    "functional_api.ipynb": functional_api,
    "paper_figures.ipynb": paper_figures,
}


def build(name: str) -> nbformat.NotebookNode:
    """The notebook ``name``, outputs empty, with a Python 3 kernelspec."""
    nb = new_notebook(cells=NOTEBOOKS[name]())
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["colab"] = {"provenance": []}
    nb.metadata["accelerator"] = "GPU"
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{Path(name).stem}-{i}"  # stable ids: rebuilding changes nothing
    return nb


def main() -> None:
    for name in NOTEBOOKS:
        nbformat.write(build(name), HERE / name)
        print("wrote", HERE / name)


if __name__ == "__main__":
    main()
