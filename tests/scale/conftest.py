"""Scale tests reuse the trainer's tiny-model fixtures (packaged MiniLM tokenizer, 3-label task)."""

from tests.trainer.conftest import bert_tokenizer, task  # noqa: F401
