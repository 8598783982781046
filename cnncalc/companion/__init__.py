"""The lab companion: the CIFAR-10 lab's questions, each answered by a call into cnncalc or by a run in the store.

No Streamlit here; torch is imported inside the functions that need it. Every number an answer shows comes
from a function call. The one exception is :data:`REFERENCE`: results obtained elsewhere (the lab students'
published logs and a measurement on the shared JPEG copy of CIFAR-10), kept as data with their source and
always shown as such — never as computed by the app.

One module per part of the lab, the names re-exported here (``from cnncalc import companion as cc``):

- :mod:`.questions` — the 34 questions, the pages that go deeper, the filter;
- :mod:`.references` — the quoted reference results;
- :mod:`.arithmetic` — Part 1, the arithmetic of a convolutional network;
- :mod:`.training` — Part 2, training the lab's network;
- :mod:`.runs` — the runs of the run store, by step of the lab's ladder and by sweep;
- :mod:`.improvements` — Part 3, improving the results.
"""
from __future__ import annotations

from ..analyze import analyze  # noqa: F401
from ..lab import bag_of_words_svm, per_training_image, training_values  # noqa: F401  (re-exported for the page)
from ..presets import PRESETS  # noqa: F401
from ..report import Analysis, LayerReport  # noqa: F401
from ..solve import divide_settings, same_padding  # noqa: F401
from ..train.config import LADDER, LAB_MEAN, LAB_STD, SWEEPS, TrainConfig  # noqa: F401
from .arithmetic import (LAB, Conversion, Equivariance1d, SameCheck, ShareRow, Sharing,  # noqa: F401
                         equivariance_1d, lab_analysis, lab_conversion, lab_larger_input, maxpool1d, one_conv,
                         parameter_table, receptive_fields, same_check, sharing, shifted)
from .improvements import (DROPOUT_SWEEP, ROOT, SEGMENTS, BatchNormCost, Crops, Flip, Sample,  # noqa: F401
                           Standardization, Subnetworks, Zca, batchnorm_cost, cifar10_dir, crop_variants,
                           flip_examples, half_life, letter, lr_after, lr_formula, momentum_gain, sample_images,
                           schedule_curves, seven_segment, standardization, subnetworks, turn_sign, zca_demo)
from .questions import PAGES, PARTS, QUESTIONS, Question, matching  # noqa: F401
from .references import REFERENCE, REFERENCE_SOURCE, Reference  # noqa: F401
from .runs import (EXPERIMENT, RunResult, Sweep, best_cifar10, by_step, is_cifar10, ladder_step,  # noqa: F401
                   latest_finished, run_results, sweeps)
from .training import (CLI_FLAGS, TRAINING_FORM_FIELDS, BatchNormDemo, DropoutDemo, batchnorm_demo,  # noqa: F401
                       chance, cli_command, dropout_demo, form_values, train_choices, train_flags)
