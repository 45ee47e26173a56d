"""Every picture family. Importing this module registers them (one import per line)."""

import attentive.pictures.captioning  # noqa: F401
import attentive.pictures.embeddings  # noqa: F401
import attentive.pictures.graph  # noqa: F401
import attentive.pictures.hierarchy  # noqa: F401
import attentive.pictures.memory  # noqa: F401
import attentive.pictures.pairs  # noqa: F401
import attentive.pictures.translation  # noqa: F401
