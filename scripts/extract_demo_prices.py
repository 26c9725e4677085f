"""Extract the demo's list prices from LiteLLM's public price table (../shared/data/llm-prices-litellm).

LiteLLM gives USD per token as JSON numbers; they are read as Decimal from their text and
multiplied by 10⁶ (per million tokens), so nothing passes through a float. The result,
procurement/demo_prices.json, is committed so the demo loads anywhere; re-run this script when
the price table is updated:  .venv/bin/python -m scripts.extract_demo_prices
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT.parent / "shared" / "data" / "llm-prices-litellm" / "model_prices_and_context_window.json"
TARGET = ROOT / "procurement" / "demo_prices.json"

# (vendor slug, the model name the vendor bills, LiteLLM key). OpenRouter resells other
# producers' models at their list prices, so its rows take the producer's LiteLLM entry.
MAPPING = [
    ("deepseek", "deepseek-chat", "deepseek/deepseek-chat"),
    ("deepseek", "deepseek-reasoner", "deepseek/deepseek-reasoner"),
    ("alibaba", "qwen-max", "dashscope/qwen-max"),
    ("alibaba", "qwen-plus", "dashscope/qwen-plus"),
    ("alibaba", "qwen-turbo", "dashscope/qwen-turbo"),
    ("alibaba", "qwen3-coder-plus", "dashscope/qwen3-coder-plus"),
    ("moonshot", "kimi-k2.5", "moonshot/kimi-k2.5"),
    ("moonshot", "moonshot-v1-32k", "moonshot/moonshot-v1-32k"),
    ("zhipu", "glm-4.5", "zai/glm-4.5"),
    ("zhipu", "glm-4.5-air", "zai/glm-4.5-air"),
    ("openai", "gpt-4o", "gpt-4o"),
    ("openai", "gpt-4o-mini", "gpt-4o-mini"),
    ("openai", "gpt-4.1", "gpt-4.1"),
    ("openai", "gpt-4.1-mini", "gpt-4.1-mini"),
    ("anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5"),
    ("anthropic", "claude-haiku-4-5", "claude-haiku-4-5"),
    ("anthropic", "claude-opus-4-5", "claude-opus-4-5"),
    ("openrouter", "anthropic/claude-sonnet-4.5", "claude-sonnet-4-5"),
    ("openrouter", "deepseek/deepseek-chat", "deepseek/deepseek-chat"),
    ("openrouter", "moonshotai/kimi-k2.5", "moonshot/kimi-k2.5"),
    ("openrouter", "openai/gpt-4o-mini", "gpt-4o-mini"),
]
FIELDS = {  # our price book field ← LiteLLM field (USD per token)
    "input_price": "input_cost_per_token",
    "cached_input_price": "cache_read_input_token_cost",
    "cache_write_price": "cache_creation_input_token_cost",
    "output_price": "output_cost_per_token",
}
MILLION = Decimal(1_000_000)


def per_million(value) -> str | None:
    if value is None or value == 0:  # 0 means no separate charge: the input price applies
        return None
    return format((value * MILLION).normalize(), "f")


def main() -> None:
    raw = SOURCE.read_bytes()
    table = json.loads(raw, parse_float=Decimal)
    rows = []
    for vendor, model, key in MAPPING:
        entry = table[key]
        note = None
        if "input_cost_per_token" not in entry and entry.get("tiered_pricing"):
            # priced by prompt length: the list price is the first (shortest-context) tier
            entry, note = entry["tiered_pricing"][0], "first context-length tier"
        row = {
            "vendor": vendor,
            "model": model,
            "litellm_key": key,
            **{f: per_million(entry.get(k)) for f, k in FIELDS.items()},
        }
        if note:
            row["note"] = note
        rows.append(row)
    TARGET.write_text(
        json.dumps(
            {
                "source": "LiteLLM model_prices_and_context_window.json (MIT), litellm 1.109.1 wheel",
                "sha256": hashlib.sha256(raw).hexdigest(),
                "currency": "USD",
                "unit": "per 1 000 000 tokens",
                "prices": rows,
            },
            indent=1,
        )
        + "\n"
    )
    print(f"{len(rows)} prices written to {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
