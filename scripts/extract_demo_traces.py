"""Extract request-size samples from the public LLM traces for the demo usage generator.

Reads ../shared/data: the Azure LLM inference traces of 2023 (code and conversation; CC-BY-4.0,
Patel et al., "Splitwise", ISCA 2024) and Mooncake's Kimi conversation trace (Apache-2.0).
Writes usage/demo_traces.json: per trace, 1 000 (input tokens, output tokens) pairs drawn with
a fixed seed, and for Mooncake the share of input tokens whose 512-token prefix blocks had been
seen before in the trace — the prefix-cache hit rate the demo uses for cached input.
Re-run with: .venv/bin/python -m scripts.extract_demo_traces
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
TARGET = ROOT / "usage" / "demo_traces.json"
SAMPLES = 1000


def azure(name: str) -> list[tuple[int, int]]:
    with open(DATA / "azure-llm-trace-2023" / name, newline="") as handle:
        return [(int(r["ContextTokens"]), int(r["GeneratedTokens"])) for r in csv.DictReader(handle)]


def mooncake() -> tuple[list[tuple[int, int]], float]:
    seen: set[int] = set()
    cached = total = 0
    pairs = []
    for line in (DATA / "mooncake-traces" / "conversation_trace.jsonl").read_text().splitlines():
        item = json.loads(line)
        pairs.append((item["input_length"], item["output_length"]))
        blocks = item["hash_ids"]
        hits = sum(1 for b in blocks if b in seen)
        # every block is 512 tokens but the last, which holds the rest of the prompt
        cached += min(hits * 512, item["input_length"])
        total += item["input_length"]
        seen.update(blocks)
    return pairs, cached / total


AZURE_CREDIT = "CC-BY-4.0; Patel et al., Splitwise, ISCA 2024"


def main() -> None:
    rng = random.Random(2026)  # noqa: S311 - a reproducible sample, not a secret
    moon, hit_rate = mooncake()
    traces = {
        "azure_code": azure("AzureLLMInferenceTrace_code.csv"),
        "azure_conv": azure("AzureLLMInferenceTrace_conv.csv"),
        "mooncake_conv": moon,
    }
    out = {
        "sources": {
            "azure_code": f"Azure LLM inference trace 2023, code ({AZURE_CREDIT})",
            "azure_conv": f"Azure LLM inference trace 2023, conversation ({AZURE_CREDIT})",
            "mooncake_conv": "Mooncake (Kimi) conversation trace, FAST'25 release (Apache-2.0)",
        },
        "requests_in_trace": {k: len(v) for k, v in traces.items()},
        "mooncake_prefix_cache_hit_rate": round(hit_rate, 4),
        "samples": {k: [list(p) for p in rng.sample(v, SAMPLES)] for k, v in traces.items()},
    }
    TARGET.write_text(json.dumps(out) + "\n")
    print(f"{TARGET.relative_to(ROOT)}: {SAMPLES} samples per trace; Mooncake prefix-cache hit rate {hit_rate:.1%}")


if __name__ == "__main__":
    main()
