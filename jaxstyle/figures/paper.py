"""The paper's Figs. 1 and 3-7 as :class:`~jaxstyle.figures.specs.Figure` s: panels, paintings, ratios.

Where the paper's material is not bundled, and what stands in for it:

* Fig. 3 E, Picasso's *Femme nue assise* (in copyright, Picasso died 1973): Hokusai's
  *The Great Wave off Kanagawa*, at the same alpha/beta = 5e-4.
* Fig. 5, Lyonel Feininger's *Jesuiten III* (1915; Feininger died 1956, so still in
  copyright in life+70 countries): *The Starry Night*.
* Fig. 6: the painting is our choice, *The Starry Night*.
* Fig. 7, New York by night onto London by day: a city skyline at sunset
  (``beach_city.jpg``) onto the Golden Gate Bridge by day (``golden_gate.jpg``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from jaxstyle.config import Config
from jaxstyle.errors import ConfigError
from jaxstyle.figures.specs import (
    FIGURES,
    Figure,
    Panel,
    paper_layers,
    short_ratio,
    strength,
    strength_label,
)

#: Paper Fig. 3: (panel, bundled painting, caption, alpha/beta from the caption).
FIG3_STYLES = (
    ("B", "shipwreck.jpg", "The Shipwreck of the Minotaur (Turner)", 1e-3),
    ("C", "starry_night.jpg", "The Starry Night (van Gogh)", 8e-4),
    ("D", "the_scream.jpg", "The Scream (Munch)", 5e-3),
    ("E", "great_wave.jpg", "The Great Wave (Hokusai), for Picasso", 5e-4),
    ("F", "composition_vii.jpg", "Composition VII (Kandinsky)", 5e-4),
)

#: Paper Fig. 4: columns alpha/beta, rows style layers relu1_1 .. up to relu5_1.
FIG4_RATIOS = (1e-5, 1e-4, 1e-3, 1e-2)


def _at(base: Config, paper_ratio: float, **fields: object) -> Config:
    return dataclasses.replace(base, ratio=strength(paper_ratio, base.weighting), **fields)


def _fig1(base: Config, blocks: int) -> Figure:
    base = dataclasses.replace(base, init="noise")  # the figure's definition: from white noise
    style_image = "starry_night.jpg"
    style = paper_layers(blocks)[1]
    panels = [
        Panel("content", "content", 0, 0, "content"),
        Panel("style", "style", 1, 0, "style", style=style_image),
    ]
    for b in range(1, len(style) + 1):
        layer = f"relu{b}_2"
        panels.append(
            Panel(
                f"content_{layer}",
                f"{'abcde'[b - 1]}  {layer}",
                0,
                b,
                style=style_image,
                config=dataclasses.replace(base, content_layers=layer, style_layers=""),
            )
        )
    for n in range(1, len(style) + 1):
        layers = style[:n]
        panels.append(
            Panel(
                f"style_{layers[-1]}",
                f"{'abcde'[n - 1]}  {layers[0]}" + (f" … {layers[-1]}" if n > 1 else ""),
                1,
                n,
                style=style_image,
                config=dataclasses.replace(base, content_layers="", style_layers=",".join(layers)),
            )
        )
    return Figure(
        1,
        "Fig. 1: what the network keeps: images reconstructed from white noise",
        "tubingen.jpg",
        tuple(panels),
        row_labels=("content", "style"),
        note=f"Top: the photo's activations at one layer alone, conv1_2 to conv{len(style)}_2 "
        "(after the ReLU). Bottom: the painting's Gram matrices at relu1_1 alone, then "
        f"relu1_1 to relu2_1, ... to relu{len(style)}_1, equally weighted. One batched run.",
    )


def _fig3(base: Config, blocks: int) -> Figure:
    panels = [Panel("content", "A  Tübingen (content)", 0, 0, "content")]
    for i, (letter, style, caption, ratio) in enumerate(FIG3_STYLES, start=1):
        panels.append(
            Panel(
                name=Path(style).stem,
                title=f"{letter}  {caption}\n{strength_label(ratio, base.weighting)}",
                row=i // 3,
                col=i % 3,
                style=style,
                config=_at(base, ratio),
                inset=True,
            )
        )
    return Figure(
        3,
        "Fig. 3: Tübingen in the style of five paintings",
        "tubingen.jpg",
        tuple(panels),
        note="E: Hokusai's Great Wave replaces Picasso's Femme nue assise (in copyright).",
    )


def _fig4(base: Config, blocks: int) -> Figure:
    style = paper_layers(blocks)[1]
    layer_sets = [style[:n] for n in range(1, len(style) + 1)]
    panels = []
    for r, layers in enumerate(layer_sets):
        for c, ratio in enumerate(FIG4_RATIOS):
            panels.append(
                Panel(
                    name=f"{layers[-1]}_ratio{short_ratio(ratio)}",
                    title=strength_label(ratio, base.weighting).replace(" (", "\n(")
                    if r == 0
                    else "",
                    row=r,
                    col=c,
                    style="composition_vii.jpg",
                    config=_at(base, ratio, style_layers=",".join(layers)),
                )
            )
    labels = tuple(
        layers[0] if len(layers) == 1 else f"{layers[0]} … {layers[-1]}" for layers in layer_sets
    )
    return Figure(
        4,
        "Fig. 4: style layers (rows) x strength (columns), Composition VII",
        "tubingen.jpg",
        tuple(panels),
        row_labels=labels,
        note="Style layers weighted equally, summing to 1; one batched run.",
    )


def _fig5(base: Config, blocks: int) -> Figure:
    style = "starry_night.jpg"
    panels = [
        Panel("content", "content", 0, 0, "content"),
        Panel("style", "style", 0, 1, "style", style=style),
    ]
    deep = paper_layers(blocks)[0]
    shallow = "relu2_2" if blocks >= 3 else "relu1_1"
    for col, layer in enumerate((shallow, deep), start=2):
        panels.append(
            Panel(
                f"content_{layer}",
                f"content at {layer}",
                0,
                col,
                style=style,
                config=_at(base, 1e-3, content_layers=layer),
            )
        )
    return Figure(
        5,
        f"Fig. 5: content matched at {shallow} vs {deep}, {strength_label(1e-3, base.weighting)}",
        "tubingen.jpg",
        tuple(panels),
        note="Style: The Starry Night in place of Feininger's Jesuiten III (in copyright).",
    )


def _fig6(base: Config, blocks: int) -> Figure:
    style = "starry_night.jpg"
    config = _at(base, 1e-3)
    panels = [
        Panel("content", "content", 0, 0, "content"),
        Panel("style", "style", 0, 1, "style", style=style),
        Panel(
            "init_content",
            "A  from the content",
            0,
            2,
            style=style,
            config=dataclasses.replace(config, init="content"),
        ),
        Panel(
            "init_style",
            "B  from the style",
            0,
            3,
            style=style,
            config=dataclasses.replace(config, init="style"),
        ),
    ]
    for seed in range(4):
        panels.append(
            Panel(
                f"init_noise{seed}",
                f"C  from noise, seed {seed}",
                1,
                seed,
                style=style,
                config=dataclasses.replace(config, init="noise"),
                seed=seed,
            )
        )
    return Figure(
        6,
        "Fig. 6: initialisation (content, style, four noise seeds), "
        + strength_label(1e-3, base.weighting),
        "tubingen.jpg",
        tuple(panels),
        note="Style: The Starry Night (our choice); one batched run, a key per item.",
    )


#: Fig. 7's second panel: the matting-Laplacian weight (Luan et al. 2017), chosen on the
#: real blocks 1-3 at 128 px: the result's matting loss per pixel falls from 0.031 to
#: 0.008 while its style loss rises from 0.33 to 0.51 (README, "Controls").
PHOTOREALISM = 3.0


def _fig7(base: Config, blocks: int) -> Figure:
    style = "beach_city.jpg"
    config = _at(base, 1e-2, init="content")
    title = f"result, {strength_label(1e-2, base.weighting)}, content init"
    photo = dataclasses.replace(config, photorealism=PHOTOREALISM)
    panels = (
        Panel("content", "content: Golden Gate by day", 0, 0, "content"),
        Panel("style", "style: city at sunset", 0, 1, "style", style=style),
        Panel("result", title, 0, 2, style=style, config=config),
        Panel(
            "photoreal",
            f"+ photorealism {PHOTOREALISM:g} (Luan et al. 2017)",
            0,
            3,
            style=style,
            config=photo,
        ),
    )
    return Figure(
        7,
        "Fig. 7: photorealistic style transfer",
        "golden_gate.jpg",
        panels,
        note="Photos in place of the paper's New York by night and London by day.",
    )


_BUILDERS = {1: _fig1, 3: _fig3, 4: _fig4, 5: _fig5, 6: _fig6, 7: _fig7}


def figure(number: int, base: Config | None = None, blocks: int = 5) -> Figure:
    """The spec of paper figure ``number``; ``base`` sets the fields shared by all panels.

    Per-panel fields (ratio, layers, init) are set by the figure: the paper's
    alpha/beta as :func:`strength` maps it for ``base.weighting``, and the paper's
    layers moved into the ``blocks`` the weights hold (:func:`paper_layers`; the
    figure's note says so). Everything else (iterations, optimizer, pooling,
    chunk_size, ...) comes from ``base``.

    Raises:
        ConfigError: for a figure this module does not reproduce.

    Example:
        >>> fig = figure(4, Config(iterations=10))
        >>> fig.shape, len(fig.results), fig.results[0].config.iterations
        ((5, 4), 20, 10)
        >>> figure(4, blocks=3).shape
        (3, 4)
    """
    if number not in _BUILDERS:
        raise ConfigError(f"figure must be one of {', '.join(map(str, FIGURES))}, got {number}")
    content, style = paper_layers(blocks)
    base = dataclasses.replace(
        Config() if base is None else base, content_layers=content, style_layers=",".join(style)
    )
    fig = _BUILDERS[number](base, blocks)
    if blocks < 5:
        moved = (
            f"Layers within blocks 1-{blocks} (the weights hold no more): content {content}, "
            f"style {style[0]} … {style[-1]}."
        )
        fig = dataclasses.replace(fig, note=f"{fig.note} {moved}".strip())
    return fig
