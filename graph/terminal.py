"""A quiet terminal: the warnings and log lines distillgraph expects from its libraries are silenced at
their source (warning filters, logging filters, progress bars off); anything unexpected still shows.
`--debug` leaves every library as it is.

Expected, and silenced:
* transformers' "LOAD REPORT" when the only keys it lists are a freshly initialised classification
  head (classifier.* / score.* MISSING): every LoRA classifier student starts that way;
* transformers' "Loading weights" progress bars and huggingface_hub's download bars (nothing is
  downloaded: the models ship in packages);
* `FutureWarning: is_gradient_checkpointing is deprecated` (peft asks transformers each round).
"""

from __future__ import annotations

import logging
import os
import re
import warnings

WARNINGS = (  # (category, the start of the message) of warnings that are expected
    (FutureWarning, r"`is_gradient_checkpointing` is deprecated"),
)
HEAD_KEYS = re.compile(r"^(classifier|score|pre_classifier)\.")
_STATUS_ROW = re.compile(r"^\s*([\w.]+)\s*\|\s*(MISSING|UNEXPECTED|MISMATCH\w*|[A-Z_]+)\s*\|")


def expected_load_report(message: str) -> bool:
    """A LOAD REPORT listing only a classification head that was initialised anew (MISSING)."""
    if "LOAD REPORT" not in message:
        return False
    rows = [m.groups() for line in message.splitlines() if (m := _STATUS_ROW.match(line)) and m.group(1) != "Key"]
    return bool(rows) and all(status == "MISSING" and HEAD_KEYS.match(key) for key, status in rows)


class ExpectedLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            return not expected_load_report(record.getMessage())
        except Exception:  # noqa: BLE001 - a filter must never break logging
            return True


_FILTER = ExpectedLogFilter()


def quiet_libraries(debug: bool = False) -> None:
    """Silence the expected library noise (idempotent); with debug, change nothing."""
    if debug:
        return
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    for category, message in WARNINGS:
        warnings.filterwarnings("ignore", message=re.escape(message), category=category)
    # the same for worker processes (distributed training)
    child = [f"ignore:{message}:{category.__name__}" for category, message in WARNINGS]
    current = [w for w in os.environ.get("PYTHONWARNINGS", "").split(",") if w]
    os.environ["PYTHONWARNINGS"] = ",".join(current + [w for w in child if w not in current])
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        root = logging.getLogger("transformers")
        hf_logging.get_logger("transformers")  # makes sure the library's handler exists
        for handler in root.handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
        if _FILTER not in root.filters:
            root.addFilter(_FILTER)
    except ImportError:  # pragma: no cover - transformers is a dependency
        pass
