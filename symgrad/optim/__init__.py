"""``symgrad.optim``: optimizers with PyTorch's update equations (SGD, Adam, AdamW)."""

from .adam import Adam, AdamW  # noqa: F401
from .optimizer import Optimizer  # noqa: F401
from .sgd import SGD  # noqa: F401
