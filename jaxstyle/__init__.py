"""jaxstyle: Gatys, Ecker & Bethge (CVPR 2016) neural style transfer in JAX.

Importing it changes nothing outside it: call :func:`setup` for the persistent
compilation cache and the XLA:CPU flags (the ``jaxstyle`` command does).
"""

from jaxstyle.cache import enable_compilation_cache, setup
from jaxstyle.config import Config, resolve
from jaxstyle.controls import color
from jaxstyle.controls.regions import MaskWarning
from jaxstyle.errors import (
    CheckpointError,
    ConfigError,
    ImageError,
    JaxstyleError,
    WeightsError,
)
from jaxstyle.images.arrays import initial_image, resize
from jaxstyle.images.read import bundled, icc_profile, load_image, load_mask
from jaxstyle.images.write import save_image
from jaxstyle.loss.equations import (
    content_loss,
    gram,
    style_layer_loss,
    style_loss,
    total_loss,
    tv_loss,
)
from jaxstyle.loss.objective import (
    Spec,
    Targets,
    Weights,
    loss_terms,
    make_targets,
    objective,
    spec_of,
    weights_of,
)
from jaxstyle.loss.temporal import Temporal, long_term_weights, temporal_loss
from jaxstyle.model.layers import LAYERS
from jaxstyle.model.preprocess import CAFFE, GATYS, TORCHVISION, Preprocess
from jaxstyle.model.vgg import VGG19, features, init_params
from jaxstyle.options import COLORS, RUN_DEFAULTS
from jaxstyle.run.checkpoint import Checkpoint
from jaxstyle.run.history import History, Result
from jaxstyle.run.multiscale import coarse_to_fine
from jaxstyle.run.plan import RunPlan, plan
from jaxstyle.run.stylize import stylize
from jaxstyle.scale.capacity import MemoryPlanError
from jaxstyle.scale.memory import Plan
from jaxstyle.solve.common import Solver
from jaxstyle.solve.solvers import minimize
from jaxstyle.video.clip import VideoResult, stylize_video
from jaxstyle.video.estimate import Flows
from jaxstyle.video.flow import flow_reliability, warp
from jaxstyle.video.io import Clip, read_clip, write_clip
from jaxstyle.video.settings import Video
from jaxstyle.weights.resolve import resolve_weights
from jaxstyle.weights.store import WeightsMeta, load_weights, save_weights

__version__ = "0.1.0"

__all__ = [
    "CAFFE",
    "COLORS",
    "GATYS",
    "LAYERS",
    "RUN_DEFAULTS",
    "TORCHVISION",
    "VGG19",
    "Checkpoint",
    "CheckpointError",
    "Clip",
    "Config",
    "ConfigError",
    "Flows",
    "History",
    "ImageError",
    "JaxstyleError",
    "MaskWarning",
    "MemoryPlanError",
    "Plan",
    "Preprocess",
    "Result",
    "RunPlan",
    "Solver",
    "Spec",
    "Targets",
    "Temporal",
    "Video",
    "VideoResult",
    "Weights",
    "WeightsError",
    "WeightsMeta",
    "__version__",
    "bundled",
    "coarse_to_fine",
    "color",
    "content_loss",
    "enable_compilation_cache",
    "features",
    "flow_reliability",
    "gram",
    "icc_profile",
    "init_params",
    "initial_image",
    "load_image",
    "load_mask",
    "load_weights",
    "long_term_weights",
    "loss_terms",
    "make_targets",
    "minimize",
    "objective",
    "plan",
    "read_clip",
    "resize",
    "resolve",
    "resolve_weights",
    "save_image",
    "save_weights",
    "setup",
    "spec_of",
    "style_layer_loss",
    "style_loss",
    "stylize",
    "stylize_video",
    "temporal_loss",
    "total_loss",
    "tv_loss",
    "warp",
    "weights_of",
    "write_clip",
]
