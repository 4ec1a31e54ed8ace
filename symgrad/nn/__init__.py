"""``symgrad.nn``: modules, parameters, losses and initialisation, as ``torch.nn``.

Modules and ``nn.functional`` are written with Tensor methods only, so a model runs eagerly
and is traced by ``symgrad.compile`` alike.
"""

from . import functional, init  # noqa: F401
from .containers import ModuleDict, ModuleList, Sequential  # noqa: F401
from .layers import (  # noqa: F401
    Dropout,
    Flatten,
    Identity,
    LeakyReLU,
    Linear,
    LogSoftmax,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from .layers_activation import (  # noqa: F401
    CELU,
    ELU,
    GELU,
    GLU,
    SELU,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    LogSigmoid,
    Mish,
    ReLU6,
    Softmin,
    Softsign,
    Tanhshrink,
)
from .layers_loss import (  # noqa: F401
    CosineEmbeddingLoss,
    GaussianNLLLoss,
    HingeEmbeddingLoss,
    KLDivLoss,
    MarginRankingLoss,
    MultiLabelSoftMarginLoss,
    PoissonNLLLoss,
    SoftMarginLoss,
    TripletMarginLoss,
)
from .layers_norm import (  # noqa: F401
    BatchNorm1d,
    BatchNorm2d,
    CosineSimilarity,
    Embedding,
    LayerNorm,
    PairwiseDistance,
)
from .loss import (  # noqa: F401
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)
from .module import Module  # noqa: F401
from .parameter import Parameter  # noqa: F401

from .layers_conv import AvgPool1d, AvgPool2d, Conv1d, Conv2d, MaxPool1d, MaxPool2d  # noqa: F401  # isort: skip
