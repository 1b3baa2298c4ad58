"""The omnivec server: OpenAI-compatible ``/v1/embeddings`` with omni items, ``/v1/search``, a search page.

``create_app(model, index=..., settings=ServeSettings(...))`` builds the FastAPI app; ``omnivec serve``
runs it with uvicorn. See ``app.py`` for the layers and ``batching.py`` for the dynamic batcher.
"""

from __future__ import annotations

from omnivec.serve.app import create_app
from omnivec.serve.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]
