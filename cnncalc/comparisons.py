"""Comparisons the lab asks for, with their formulas."""
from __future__ import annotations

from dataclasses import dataclass

CIFAR10_TRAIN_IMAGES = 50_000
CIFAR10_VALUES_PER_IMAGE = 3 * 32 * 32


@dataclass(frozen=True)
class Comparison:
    label: str
    value: int
    formula: str


def bag_of_words_svm(words: int = 1000, dim: int = 128, classes: int = 10) -> Comparison:
    """A bag-of-visual-words + linear SVM classifier: a codebook of ``words`` SIFT centroids of ``dim``
    values, then one-vs-rest linear SVMs on the ``words``-bin histogram (a weight per bin and a bias)."""
    codebook, svm = words * dim, classes * (words + 1)
    return Comparison("bag-of-words + SVM", codebook + svm,
                      f"{words}·{dim} + {classes}·({words} + 1) = {codebook:,} + {svm:,} = {codebook + svm:,}")


def per_training_image(params: int, images: int = CIFAR10_TRAIN_IMAGES) -> Comparison:
    ratio = params / images
    return Comparison("parameters per training image", round(ratio),
                      f"{params:,} / {images:,} = {ratio:,.1f}")


def training_values(images: int = CIFAR10_TRAIN_IMAGES, per_image: int = CIFAR10_VALUES_PER_IMAGE) -> Comparison:
    return Comparison("pixel values in the training set", images * per_image,
                      f"{images:,}·{per_image:,} = {images * per_image:,}")
