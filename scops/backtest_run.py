"""``scops backtest``: from the command's arguments to the files and the printed summary.

Sources: CSV files (``--input``), a NAB checkout (``--nab-dir``), a Prometheus server
(``--prometheus`` with ``--query``) or a CloudWatch series (``--cloudwatch``). The remediation
rules' dry run is printed for history read from Prometheus or CloudWatch, and for any source
when ``--rules`` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from scops.backtest import BacktestError, Summary, plan, replay
from scops.backtest_history import parse_duration, parse_when, replay_history
from scops.backtest_nab import nab_plan
from scops.backtest_rules import DryRules
from shared.history_series import FetchLimits, HistoryError, HistorySeries
from shared.resource_labels import DEFAULT_RESOURCE_LABELS


def run(args: argparse.Namespace) -> int:
    try:
        summary, rules = _run(args)
    except (BacktestError, HistoryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary.text())
    print(summary.anomalies_text())
    for line in rules.lines() if rules else []:
        print(line)
    return 0


def _run(args: argparse.Namespace) -> tuple[Summary, DryRules | None]:
    remote = bool(args.prometheus or args.cloudwatch)
    rules = _rules(args.rules) if remote or args.rules else None
    sink = rules.observe if rules else None
    if remote:
        if args.output is None:
            raise BacktestError(
                "--output (a directory) is required with a Prometheus or CloudWatch source"
            )
        series = asyncio.run(_fetch(args))
        if not series:
            raise BacktestError("the source returned no series in that range")
        return replay_history(series, args.output, args.config, sink), rules
    pairs = nab_plan(args.nab_dir, args.output) if args.nab_dir else plan(args.input, args.output)
    return replay(pairs, args.config, sink), rules


def _rules(path: Path | None) -> DryRules | None:
    """The rules to dry-run; without ``--rules``, the configured file if it exists."""
    if path is not None:
        return DryRules.load(path)
    from services.remediator.config import RemediatorSettings

    if not RemediatorSettings().rules_path.is_file():
        return None
    return DryRules.load(None)


async def _fetch(args: argparse.Namespace) -> list[HistorySeries]:
    end = parse_when(args.end, "--end")
    start = parse_when(args.start, "--start")
    limits = FetchLimits(max_points=args.max_points, request_timeout_s=args.timeout)
    if args.prometheus:
        from shared.prometheus_history import fetch_prometheus

        if not args.query:
            raise BacktestError("--query (PromQL) is required with --prometheus")
        step = parse_duration(args.step, "--step")
        return await fetch_prometheus(
            args.prometheus,
            args.query,
            start,
            end,
            step,
            limits=limits,
            metric=args.metric,
            resource_labels=args.resource_label or DEFAULT_RESOURCE_LABELS,
        )
    from services.detector.history_cloudwatch import (
        CloudWatchSeries,
        aws_access,
        fetch_cloudwatch,
    )
    from shared.aws_settings import AwsSettings

    period = int(parse_duration(args.period, "--period"))
    one = await fetch_cloudwatch(
        aws_access(AwsSettings()),
        CloudWatchSeries.parse(args.cloudwatch),
        start,
        end,
        stat=args.stat,
        period_s=period,
        metric=args.metric,
        limits=limits,
    )
    return [one] if one.points else []
