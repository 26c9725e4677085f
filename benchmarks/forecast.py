"""Forecasting: backtests of the forecasting engine, and the time to forecast 1 000 series.

No database. Two parts:

(a) Backtests (`insights.forecasting.backtest`: rolling origin, 14-day horizon, 8 origins a week
    apart by default) of the engine's automatic method against the seasonal-naive baseline:
    - demo-like series: the daily tokens (input + cached + output) of `usage.demo.demo_records`
      (the demo's seeded replay of real request traces) over 365 fixed days from 2025-10-01, per
      department × vendor, per department, and the company total, computed in memory (Django is
      set up only to import the module; nothing is read from or written to a database);
    - real series: OpenRouter's public daily token rankings (`openrouter-rankings-daily/` of the
      shared data set; CC BY 4.0, "Source: OpenRouter (openrouter.ai/rankings), as of 2026-09-17"):
      the total of all traffic (each day's rows, `other` included, sum to it) and the 10 models with
      the most tokens. Endpoint variants (`:free`, `:beta`, `:thinking`, `:extended`) are summed into
      their model. A model's series starts on its first day in the rankings; a day it fell out of
      the day's top 50 is interpolated between its neighbours, as are the two days the source never
      published (2025-06-15, 2025-07-15) in the total.
    Each group ends with a mean row (series without a usable origin are left out).
(b) The time to forecast `--series` (1 000) synthetic series of `--days` (365) days each to a
    horizon of `--horizon` (120) days, fit and intervals, on one process and on `--processes` (2).
    The series are demo-like: a level between 10⁶ and 10⁹ tokens a day, growth of 0–10 % a month,
    a weekday pattern (weekends lower, some teams idle at weekends), log-normal noise, and for a
    tenth of them a late start (shorter history) or a launch spike.

Ends with `forecast 1000 series in 23.4 s (target < 60 s)` (the faster of the two runs).

    .venv/bin/python -m benchmarks.forecast [--series N] [--processes P] [--no-backtest] [--data PATH]
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import time
from collections import Counter, defaultdict
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from insights.forecasting import backtest, forecast_many

from .common import ROOT

DEMO_START = date(2025, 10, 1)
DEMO_DAYS = 365
OPENROUTER = "openrouter-rankings-daily/rankings_daily.csv"
TOP_MODELS = 10
WEEKDAY = np.array([1.0, 1.04, 1.06, 1.03, 0.93, 0.34, 0.26])  # usage/demo.py's Monday … Sunday


# Series ---------------------------------------------------------------------------------------------


def demo_series() -> dict[str, np.ndarray]:
    """Daily tokens of the demo's workloads, by department × vendor, department, and in total."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    from usage.demo import WORKLOADS, demo_records

    department_of = {w.api_key: w.department or w.rule_department or "UNALLOCATED" for w in WORKLOADS}
    end = DEMO_START + timedelta(days=DEMO_DAYS - 1)
    sums: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(DEMO_DAYS))
    for record in demo_records(DEMO_START, end):
        day = (date.fromisoformat(record["bucket_start"][:10]) - DEMO_START).days
        tokens = record["input_tokens"] + record["cached_input_tokens"] + record["output_tokens"]
        department = department_of[record["api_key_id"]]
        sums[f"demo {department} / {record['vendor']}"][day] += tokens
        sums[f"demo {department}"][day] += tokens
        sums["demo company total"][day] += tokens
    # a department with one vendor has the same series twice: keep the department's
    names = sorted(sums, key=lambda name: (name != "demo company total", name.count("/"), name))
    unique: dict[str, np.ndarray] = {}
    for name in names:
        if not any(np.array_equal(sums[name], kept) for kept in unique.values()):
            unique[name] = sums[name]
    return unique


def openrouter_series(data: Path) -> dict[str, np.ndarray]:
    """OpenRouter's total daily tokens and its top models' (see the module docstring)."""
    total: dict[date, int] = defaultdict(int)
    per_model: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    with (data / OPENROUTER).open(newline="") as handle:
        for row in csv.DictReader(handle):
            day, tokens = date.fromisoformat(row["date"]), int(row["total_tokens"])
            total[day] += tokens
            if row["model_permaslug"] != "other":
                per_model[row["model_permaslug"].split(":")[0]][day] += tokens
    last = max(total)

    def daily(by_day: dict[date, int]) -> np.ndarray:
        first = min(by_day)
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        values = np.array([by_day.get(day, np.nan) for day in days], dtype=float)
        known = ~np.isnan(values)
        index = np.arange(values.size)
        values[~known] = np.interp(index[~known], index[known], values[known])
        return values

    out = {"OpenRouter total": daily(total)}
    for model in sorted(per_model, key=lambda m: -sum(per_model[m].values()))[:TOP_MODELS]:
        out[model] = daily(per_model[model])
    return out


def synthetic_series(count: int, days: int, seed: int = 2026) -> list[np.ndarray]:
    """Demo-like daily token series for the timing run (see the module docstring)."""
    rng = np.random.default_rng(seed)
    t = np.arange(days)
    out = []
    for _ in range(count):
        level = 10 ** rng.uniform(6, 9)
        growth = rng.uniform(0.0, 0.10)
        weekday = WEEKDAY.copy() if rng.random() < 0.8 else np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0])
        values = level * (1 + growth) ** (t / 30.4) * weekday[t % 7] * rng.lognormal(0, rng.uniform(0.05, 0.3), days)
        kind = rng.random()
        if kind < 0.05:  # started later: a shorter history
            values[: int(rng.integers(days // 2, days - 20))] = 0
        elif kind < 0.10:  # a launch spike that fades
            at = int(rng.integers(days // 2, days - 30))
            values[at:] *= 1 + 3 * np.exp(-np.arange(days - at) / 10)
        out.append(np.round(values))
    return out


# Reporting ------------------------------------------------------------------------------------------

COLUMNS = ["mape", "smape", "mase", "baseline_mape", "baseline_smape", "baseline_mase", "coverage80", "coverage95"]


def fmt(value: float | None, column: str) -> str:
    if value is None:
        return "—"
    if column.startswith("coverage"):
        return f"{value * 100:.0f} %"
    return f"{value:.2f}" if "mase" in column else f"{value:.1f}"


def backtest_table(title: str, series: dict[str, np.ndarray], args: argparse.Namespace) -> list[dict]:
    print(f"\n{title}")
    header = "| series | days | origins | method | MAPE | sMAPE | MASE | SN MAPE | SN sMAPE | SN MASE | cover 80 | cover 95 |"
    print(header)
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    for name, values in series.items():
        result = backtest(values, horizon=args.bt_horizon, origins=args.origins, step=args.step)
        methods = ", ".join(
            f"{code} ×{n}" if len(result["methods"]) > 1 else code for code, n in result["methods"].items()
        )
        cells = " | ".join(fmt(result[c], c) for c in COLUMNS)
        print(f"| {name} | {len(values)} | {result['origins']} | {methods or '—'} | {cells} |")
        rows.append(result)
    print(mean_row(f"mean of {title.split(':')[0]}", rows))
    return rows


def mean_row(label: str, rows: list[dict]) -> str:
    used = [row for row in rows if row["origins"]]
    cells = []
    for column in COLUMNS:
        values = [row[column] for row in used if row[column] is not None]
        cells.append(fmt(float(np.mean(values)) if values else None, column))
    return f"| **{label}** ({len(used)} series) | | | | " + " | ".join(cells) + " |"


def _cpu_seconds() -> float:
    """CPU time of this process and of its ended children (the worker processes)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


# Main -----------------------------------------------------------------------------------------------


def shared_data(path: str | None) -> Path | None:
    candidates = [path, os.environ.get("TOKENLEDGER_SHARED_DATA"), ROOT.parent / "shared" / "data", "/work/shared/data"]
    for candidate in candidates:
        if candidate and (Path(candidate) / OPENROUTER).is_file():
            return Path(candidate)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1000, help="series in the timing run")
    parser.add_argument("--days", type=int, default=365, help="days of history per series")
    parser.add_argument("--horizon", type=int, default=120, help="days forecast (to the fiscal year's end)")
    parser.add_argument("--processes", type=int, default=2, help="processes for the second timing run")
    parser.add_argument("--bt-horizon", type=int, default=14, help="backtest horizon")
    parser.add_argument("--origins", type=int, default=8, help="backtest origins")
    parser.add_argument("--step", type=int, default=7, help="days between backtest origins")
    parser.add_argument("--no-backtest", action="store_true", help="only the timing run")
    parser.add_argument("--data", help="the shared data folder (default: as the tests find it)")
    args = parser.parse_args()

    if not args.no_backtest:
        began = time.perf_counter()
        rows = backtest_table("demo-like series: usage/demo.py, 365 days", demo_series(), args)
        data = shared_data(args.data)
        if data is None:
            print("\n(the shared data set is not on this machine: no OpenRouter backtest)")
        else:
            rows += backtest_table("OpenRouter: daily tokens, 2025-01-01 → 2026-09-17", openrouter_series(data), args)
            print("Source: OpenRouter (openrouter.ai/rankings), as of 2026-09-17 (CC BY 4.0)")
        print(mean_row("mean of all", rows))
        print(f"backtests: {len(rows)} series in {time.perf_counter() - began:.1f} s")

    series = synthetic_series(args.series, args.days)
    print(f"\ntiming: {args.series} series × {args.days} days, horizon {args.horizon} days")
    timings = []
    for processes in sorted({1, args.processes}):
        load = os.getloadavg()[0]
        cpu_before = _cpu_seconds()
        began = time.perf_counter()
        forecasts = forecast_many(series, horizon=args.horizon, processes=processes)
        elapsed = time.perf_counter() - began
        cpu = _cpu_seconds() - cpu_before
        timings.append(elapsed)
        methods = Counter(f.method_code for f in forecasts)
        print(
            f"  {processes} process{'es' if processes > 1 else ''}: {elapsed:.1f} s "
            f"({elapsed / args.series * 1000:.1f} ms a series; CPU {cpu:.1f} s; load average "
            f"{load:.1f} → {os.getloadavg()[0]:.1f}); methods: {dict(methods)}"
        )
    print(f"forecast {args.series} series in {min(timings):.1f} s (target < 60 s)")


if __name__ == "__main__":
    main()
