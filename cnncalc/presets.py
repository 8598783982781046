"""Named networks as text specs, each with the input it was designed for and where it comes from."""
from __future__ import annotations

from dataclasses import dataclass

from .parse import SpecError, parse_spec


@dataclass(frozen=True)
class Preset:
    key: str
    title: str
    spec: str
    input_shape: tuple[int, int, int]
    source: str

    @property
    def layers(self):
        return parse_spec(self.spec)


_LAB = ("conv 32 k=5 p=2; relu; maxpool k=2; conv 64 k=5 p=2; relu; maxpool k=2; "
        "conv 64 k=5 p=2; relu; maxpool k=2{ceil}; flatten; fc 1000; relu; {drop}fc 10")
_VGG_HEAD = "flatten; fc 4096; relu; dropout p=0.5; fc 4096; relu; dropout p=0.5; fc 1000"


def _vgg(widths: list[int | str]) -> str:
    layers = [f"conv {w} k=3 p=1; relu" if w != "M" else "maxpool k=2" for w in widths]
    return "; ".join(layers) + "; " + _VGG_HEAD


PRESETS: dict[str, Preset] = {p.key: p for p in [
    Preset("lab", "CIFAR-10 lab net (32×32)", _LAB.format(ceil="", drop=""), (3, 32, 32),
           "The lab sheet: three 5×5 convs (32, 64, 64 filters, padding 2) each with ReLU and 2×2 max pooling, "
           "fc4 1024→1000, fc5 1000→10; 1,191,170 parameters."),
    Preset("lab28", "CIFAR-10 lab net on 28×28 crops", _LAB.format(ceil=" ceil=1", drop=""), (3, 28, 28),
           "Same net for RandomCrop(28): pool3 in ceil mode turns 7×7 into 4×4, so fc4 keeps its 1024 inputs."),
    Preset("lab-bn", "Lab net + batch norm + dropout (28×28)",
           _LAB.format(ceil=" ceil=1", drop="dropout p=0.5; ").replace("p=2; relu", "p=2; bn; relu"), (3, 28, 28),
           "The last step of the lab's ladder: batch norm right after each conv, dropout 0.5 between fc4 and fc5."),
    Preset("lenet5", "LeNet-5", "conv 6 k=5; tanh; avgpool k=2; conv 16 k=5; tanh; avgpool k=2; flatten; "
           "fc 120; tanh; fc 84; tanh; fc 10", (1, 32, 32),
           "LeCun et al. 1998 with full C3 connections and plain average pooling (the common modern reading); "
           "61,706 parameters."),
    Preset("alexnet", "AlexNet (2012, 227×227)",
           "conv 96 k=11 s=4; relu; maxpool k=3 s=2; conv 256 k=5 p=2 g=2; relu; maxpool k=3 s=2; "
           "conv 384 k=3 p=1; relu; conv 384 k=3 p=1 g=2; relu; conv 256 k=3 p=1 g=2; relu; maxpool k=3 s=2; "
           "flatten; fc 4096; relu; dropout p=0.5; fc 4096; relu; dropout p=0.5; fc 1000", (3, 227, 227),
           "Krizhevsky, Sutskever & Hinton 2012 as one stream: the two-GPU split is groups=2 in conv2, conv4, "
           "conv5; local response normalisation (no parameters) left out; 227×227 input as in Caffe."),
    Preset("vgg11", "VGG11 (configuration A)", _vgg([64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]),
           (3, 224, 224), "Simonyan & Zisserman 2015, configuration A; 132,863,336 parameters."),
    Preset("vgg16", "VGG16 (configuration D)",
           _vgg([64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]),
           (3, 224, 224), "Simonyan & Zisserman 2015, configuration D; 138,357,544 parameters, as torchvision's "
           "vgg16 (which adds an adaptive 7×7 average pool, the identity at 224×224)."),
]}


def preset(key: str) -> Preset:
    try:
        return PRESETS[key.lower()]
    except KeyError:
        raise SpecError(f"unknown preset '{key}'; choose one of: {', '.join(PRESETS)}") from None
