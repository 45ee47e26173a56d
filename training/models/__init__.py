"""One model per survey system. Importing this package registers every model explicitly."""

from training.models import gat  # noqa: F401
from training.models import transformer  # noqa: F401
