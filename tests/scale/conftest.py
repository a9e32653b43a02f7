"""Scale tests reuse the trainer's tiny-model fixtures and the graph's end-to-end fixtures (tiny models on
disk, a small dataset, the loopback stub teacher, the config writer)."""

from tests.graph.conftest import dataset, make_config, stub, tiny_models  # noqa: F401
from tests.trainer.conftest import bert_tokenizer, task  # noqa: F401
