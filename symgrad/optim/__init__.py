"""``symgrad.optim``: optimizers with PyTorch's update equations (SGD, Adam, AdamW, RMSprop,
Adagrad), run on the NumPy arrays in place, and ``lr_scheduler``."""

from . import lr_scheduler  # noqa: F401
from .adagrad import Adagrad  # noqa: F401
from .adam import Adam, AdamW  # noqa: F401
from .optimizer import Optimizer  # noqa: F401
from .rmsprop import RMSprop  # noqa: F401
from .sgd import SGD  # noqa: F401
