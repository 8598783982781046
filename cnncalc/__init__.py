"""cnncalc — every number of a CNN, exactly, with its formula.

Pure Python: importing the package and calling :func:`analyze` never imports torch. The PyTorch bridge
(:func:`build_model`, :func:`from_module`, :func:`to_pytorch_code`) imports it when first used.
"""
from .analyze import analyze
from .layers import (Activation, AdaptiveAvgPool, BatchNorm, Conv, ConvTranspose, Dropout, Flatten, Layer, Linear,
                     Pool, Upsample, layer_names)
from .parse import (SpecError, format_layer, format_shape, format_spec, parse_layer, parse_shape, parse_spec,
                    split_spec)
from .presets import PRESETS, preset
from .report import CONVENTIONS, Analysis, LayerReport
from .solve import divide_settings, input_sizes_for_output, same_padding

_TORCH_BRIDGE = ("build_model", "from_module", "to_pytorch_code")


def __getattr__(name: str):
    if name in _TORCH_BRIDGE:
        from .pytorch import bridge
        return getattr(bridge, name)
    raise AttributeError(f"module 'cnncalc' has no attribute {name!r}")


__all__ = ["analyze", "Analysis", "LayerReport", "CONVENTIONS", "SpecError", "parse_spec", "parse_layer",
           "parse_shape", "format_shape", "split_spec", "format_spec", "format_layer", "layer_names", "PRESETS", "preset", "same_padding",
           "divide_settings", "input_sizes_for_output", "Conv", "Pool", "AdaptiveAvgPool", "Flatten", "Linear",
           "BatchNorm", "Dropout", "Activation", "Layer", "ConvTranspose", "Upsample", *_TORCH_BRIDGE]
