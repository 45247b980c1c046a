"""Provider resolution: embedded, OpenAI and any OpenAI-compatible endpoint share one path.

The spec names the provider; environment variables may override it so the same
dataset can be pointed at another endpoint without editing files:
SYNTH_PROVIDER, SYNTH_BASE_URL, SYNTH_MODEL, SYNTH_API_KEY_ENV.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from synth_pipeline.generation.embedded import EMBEDDED_MODEL_NAME, embedded_base_url
from synth_pipeline.spec import ModelPrice, ProviderSpec

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
DEFAULT_OPENAI_URL = "https://api.openai.com/v1"


class ProviderError(RuntimeError):
    pass


@dataclass(frozen=True)
class ResolvedProvider:
    kind: str
    model: str
    base_url: str | None  # None for embedded until the server is started
    api_key_env: str | None
    params: dict[str, Any]
    concurrency: int
    timeout_seconds: float
    max_retries: int
    base_seed: int = 0
    validation_reasks: int = 1
    # USD per million tokens; None when the spec has no price for this model.
    price: ModelPrice | None = None
    # The key is read lazily and never stored on this object, so it cannot leak into reprs.
    _env: Mapping[str, str] = field(default_factory=lambda: os.environ, repr=False, compare=False)

    @property
    def identity(self) -> dict[str, str]:
        """What a cached answer depends on: not the URL (the embedded port changes per run)."""
        return {"provider": self.kind, "model": self.model}

    @property
    def priced(self) -> bool:
        return self.price is not None

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        if self.price is None:
            return 0.0
        return (
            prompt_tokens * self.price.prompt_per_million
            + completion_tokens * self.price.completion_per_million
        ) / 1e6

    def sampling_seed(self, sample_index: int) -> int:
        """The `seed` sent with a request: distinct per sample, shifted by the spec's seed."""
        return (self.base_seed * 1_000_003 + sample_index) % 2**31

    def api_key(self) -> str:
        if self.kind == "embedded":
            return "embedded"
        if not self.api_key_env:
            return "none"
        key = self._env.get(self.api_key_env)
        if not key:
            raise ProviderError(
                f"provider {self.kind!r} needs an API key in the environment variable "
                f"{self.api_key_env}, which is not set"
            )
        return key

    def endpoint(self) -> str:
        if self.kind == "embedded":
            return embedded_base_url(parallel=self.concurrency)
        assert self.base_url
        return self.base_url


def resolve_provider(spec: ProviderSpec, env: Mapping[str, str] | None = None) -> ResolvedProvider:
    env = os.environ if env is None else env
    kind = env.get("SYNTH_PROVIDER") or spec.kind
    if kind not in ("embedded", "openai", "openai_compatible"):
        raise ProviderError(f"SYNTH_PROVIDER={kind!r}: use embedded, openai or openai_compatible")
    model = env.get("SYNTH_MODEL") or spec.model
    base_url = env.get("SYNTH_BASE_URL") or spec.base_url
    key_env = env.get("SYNTH_API_KEY_ENV") or spec.api_key_env
    if kind == "embedded":
        model, base_url, key_env = EMBEDDED_MODEL_NAME, None, None
    elif kind == "openai":
        model = model or DEFAULT_OPENAI_MODEL
        base_url = base_url or DEFAULT_OPENAI_URL
        key_env = key_env or "OPENAI_API_KEY"
    else:
        if not base_url:
            raise ProviderError(
                "provider openai_compatible needs base_url (spec or SYNTH_BASE_URL)"
            )
        if not model:
            raise ProviderError("provider openai_compatible needs model (spec or SYNTH_MODEL)")
    params = {
        "temperature": spec.temperature,
        "top_p": spec.top_p,
        "max_tokens": spec.max_tokens,
    }
    price = ModelPrice(prompt_per_million=0, completion_per_million=0)
    if kind != "embedded":
        price = spec.prices.get(model)  # type: ignore[arg-type]
    return ResolvedProvider(
        kind=kind,
        model=model,
        base_url=base_url,
        api_key_env=key_env,
        params=params,
        concurrency=spec.concurrency,
        timeout_seconds=spec.timeout_seconds,
        max_retries=spec.max_retries,
        base_seed=spec.seed,
        validation_reasks=spec.validation_reasks,
        price=price,
        _env=env,
    )
