"""One model per survey system. Importing this package registers every model explicitly."""

from training.models import (
    abcnn,  # noqa: F401
    disan,  # noqa: F401
    dme,  # noqa: F401
    gat,  # noqa: F401
    han,  # noqa: F401
    lin,  # noqa: F401
    luong,  # noqa: F401
    memn2n,  # noqa: F401
    mpcnn,  # noqa: F401
    rnnsearch,  # noqa: F401
    seq2seq,  # noqa: F401
    sat,  # noqa: F401
    transformer,  # noqa: F401
)
