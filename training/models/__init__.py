"""One model per survey system. Importing this package registers every model explicitly."""

from training.models import gat  # noqa: F401
from training.models import luong  # noqa: F401
from training.models import rnnsearch  # noqa: F401
from training.models import seq2seq  # noqa: F401
from training.models import transformer  # noqa: F401
