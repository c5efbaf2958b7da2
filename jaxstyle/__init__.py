"""jaxstyle: Gatys, Ecker & Bethge (CVPR 2016) neural style transfer in JAX."""

from jaxstyle.compilation import cpu_flags_by_default, enable_by_default, enable_compilation_cache
from jaxstyle.errors import ConfigError, ImageError, JaxstyleError, WeightsError
from jaxstyle.image import bundled, load_image, save_image
from jaxstyle.losses import content_loss, gram, style_layer_loss, style_loss, total_loss, tv_loss
from jaxstyle.optimize import (
    Config,
    History,
    OptState,
    Result,
    Targets,
    Weights,
    loss_terms,
    loss_weights,
    make_targets,
    objective,
    stylize,
)
from jaxstyle.vgg import CAFFE, GATYS, LAYERS, TORCHVISION, VGG19, Preprocess, features, init_params
from jaxstyle.weights import WeightsMeta, load_weights, save_weights

__version__ = "0.1.0"

enable_by_default()
cpu_flags_by_default()

__all__ = [
    "CAFFE",
    "GATYS",
    "LAYERS",
    "TORCHVISION",
    "VGG19",
    "Config",
    "ConfigError",
    "History",
    "ImageError",
    "JaxstyleError",
    "OptState",
    "Preprocess",
    "Result",
    "Targets",
    "Weights",
    "WeightsError",
    "WeightsMeta",
    "__version__",
    "bundled",
    "content_loss",
    "enable_compilation_cache",
    "features",
    "gram",
    "init_params",
    "load_image",
    "load_weights",
    "loss_terms",
    "loss_weights",
    "make_targets",
    "objective",
    "save_image",
    "save_weights",
    "style_layer_loss",
    "style_loss",
    "stylize",
    "total_loss",
    "tv_loss",
]
