"""A tiny three-topic corpus whose topics separate under HashEmbedder (shared by the store tests)."""

from __future__ import annotations

import random

from distillgraph.store.schema import Example, content_id

TOPICS = {
    "sport": "football goal match striker league cup referee penalty keeper season".split(),
    "tech": "software chip processor internet app cloud startup robot code data".split(),
    "food": "recipe bread cheese tomato oven sauce garlic pasta butter soup".split(),
}


def topic_text(topic: str, rng: random.Random, n_words: int = 8) -> str:
    return " ".join(rng.choice(TOPICS[topic]) for _ in range(n_words))


def make_examples(per_split: dict[str, int], seed: int = 0) -> list[Example]:
    """`per_split[split]` examples per topic; pool ones unlabelled, all carry their topic as domain."""
    rng = random.Random(seed)
    examples = []
    for split, n in per_split.items():
        for topic in TOPICS:
            for _ in range(n):
                text = topic_text(topic, rng)
                label = None if split == "pool" else topic
                examples.append(
                    Example(
                        id=content_id(f"{split}:{text}"), text=text, split=split, label=label, domain=topic
                    )
                )
    return examples
