"""The lab companion's questions: the CIFAR-10 lab's 34 questions by part, the keys of the app pages that go
deeper (the UI's page registry turns a key into a link), and the filter over their labels."""
from __future__ import annotations

from dataclasses import dataclass

PARTS = {1: "Part 1 — the arithmetic of a convolutional network",
         2: "Part 2 — training the lab's network on CIFAR-10",
         3: "Part 3 — improving the results"}

@dataclass(frozen=True)
class Question:
    number: int
    part: int
    title: str
    pages: tuple[str, ...]  # page keys (ui/nav.py): where to go deeper

    @property
    def label(self) -> str:
        return f"{self.number}. {self.title}"


_Q = [
    (1, "What are the output size, the number of weights and the fully-connected equivalent of a convolution?",
     ("calculator",)),
    (1, "What are the advantages of convolution over a fully-connected layer, and its main limit?",
     ("demos", "analyzer")),
    (1, "What is pooling for?", ("demos", "calculator")),
    (1, "What happens when the input image is larger than the one the network was designed for?",
     ("dense_maps", "analyzer")),
    (1, "How can a fully-connected layer be written as a convolution?", ("dense_maps",)),
    (1, "What does the converted (fully convolutional) network output on a larger image?", ("dense_maps",)),
    (1, "What is the receptive field of the first layer, of the second, and of deeper layers?",
     ("receptive_field",)),
    (1, "Which padding and stride keep the size of a convolution's output?", ("calculator",)),
    (1, "Which pooling settings halve the size?", ("calculator",)),
    (1, "What are the output size and the number of weights of each layer, and how are the weights distributed?",
     ("analyzer",)),
    (1, "How does the total number of weights compare with the number of training examples?", ("analyzer",)),
    (1, "How does it compare with a bag-of-words + SVM classifier?", ("analyzer",)),
    (2, "How do you run the training with a given batch size, learning rate, number of epochs and device?",
     ("training",)),
    (2, "How are the training and test metrics computed, and why do they differ?", ("training",)),
    (2, "What accuracy does the lab's network reach on CIFAR-10 at convergence?", ("training",)),
    (2, "What are the effects of the learning rate and of the batch size?", ("training",)),
    (2, "What is the error at the start of the first epoch, and why?", ("training",)),
    (2, "Is there overfitting, and how do you see it?", ("training",)),
    (3, "What does standardizing the inputs change?", ("training",)),
    (3, "Why are the standardization statistics computed on the training set only?", ("training",)),
    (3, "What is ZCA whitening?", ("training",)),
    (3, "What are the results with data augmentation (random crop + horizontal flip)?", ("training",)),
    (3, "Is a horizontal flip a valid augmentation for every kind of image?", ("training",)),
    (3, "What are the limits of data augmentation?", ("training",)),
    (3, "What other augmentations could be used?", ("training",)),
    (3, "What do momentum and a learning-rate schedule change, and is training more stable?", ("training",)),
    (3, "Why do momentum and a decaying learning rate help?", ("training",)),
    (3, "What other optimizers and learning-rate schedules exist?", ("training",)),
    (3, "What are the results with dropout?", ("training",)),
    (3, "What other regularization methods are there?", ("training",)),
    (3, "How can dropout be interpreted?", ("training",)),
    (3, "How does the dropout rate influence the results?", ("training",)),
    (3, "What does dropout do in training mode and in test (eval) mode?", ("training",)),
    (3, "What are the results with batch normalization?", ("training", "analyzer")),
]
QUESTIONS: tuple[Question, ...] = tuple(Question(i, part, title, pages) for i, (part, title, pages) in
                                        enumerate(_Q, start=1))


def matching(query: str, questions=QUESTIONS) -> list[Question]:
    """The questions whose label ('7. What is the receptive field …') holds every word of ``query``
    (case-insensitive); all of them for an empty query."""
    words = query.lower().split()
    return [q for q in questions if all(w in q.label.lower() for w in words)]
