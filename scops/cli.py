"""``scops``: the one command a user runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """Run a command; a configuration the command cannot start with is one line on stderr and
    exit status 2, never a traceback."""
    try:
        return _run(argv)
    except Exception as exc:
        from scops.config_errors import describe

        line = describe(exc)
        if line is None:
            raise
        print(f"error: {line}", file=sys.stderr, flush=True)
        return 2


def _run(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="scops", description="Smart CloudOps AI")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser(
        "up",
        help="run the whole stack locally until Ctrl-C",
        description="Run Redis (when none answers at SCOPS_REDIS_URL), every service and a "
        "Celery worker in the foreground until Ctrl-C; a process that dies is started again. "
        "Ports come from the settings: SCOPS_GATEWAY_PORT (8000), SCOPS_DETECTOR_PORT, "
        "SCOPS_REMEDIATOR_PORT, SCOPS_NOTIFIER_PORT, SCOPS_HISTORY_PORT; the Redis from "
        "SCOPS_REDIS_URL.",
    )
    up.add_argument("--run-dir", type=Path, default=Path(".run"), help="logs and state")
    up.add_argument("--workers", type=int, default=2, help="Celery worker processes")
    up.add_argument(
        "--detectors",
        type=int,
        default=1,
        help="detector processes, each owning a share of the metric shards",
    )
    demo = sub.add_parser("demo", help="send an incident through the running stack")
    demo.add_argument(
        "--timeout", type=float, default=180.0, help="seconds to wait for the notification"
    )
    demo.add_argument(
        "--run-dir",
        type=Path,
        default=Path(".run"),
        help="the stack's run directory (as given to `scops up`), where its logs are",
    )
    backtest = sub.add_parser(
        "backtest",
        help="replay history (CSV, Prometheus or CloudWatch) through the detector",
    )
    source = backtest.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--input",
        type=Path,
        action="append",
        help="a CSV file or a directory of them; may be repeated",
    )
    source.add_argument(
        "--nab-dir",
        type=Path,
        help="a NAB checkout: replay its data/ into its results/scops/ for NAB's run.py",
    )
    source.add_argument(
        "--prometheus", metavar="URL", help="a Prometheus server: replay what --query returns"
    )
    source.add_argument(
        "--cloudwatch",
        metavar="NAMESPACE:METRIC:DIMENSION=VALUE",
        help="a CloudWatch series (AWS from SCOPS_AWS_*), "
        "e.g. AWS/EC2:CPUUtilization:InstanceId=i-0abc",
    )
    backtest.add_argument(
        "--output",
        type=Path,
        help="the output CSV (one input file) or directory (several; with --nab-dir, "
        "instead of results/scops/; with --prometheus or --cloudwatch, one CSV per series)",
    )
    backtest.add_argument("--config", type=Path, help="JSON of detector settings to override")
    backtest.add_argument("--query", help="PromQL returning the series to replay")
    backtest.add_argument("--start", default="now-1d", help="ISO 8601, epoch s or now-6h")
    backtest.add_argument("--end", default="now", help="ISO 8601, epoch s or now")
    backtest.add_argument("--step", default="60s", help="Prometheus query resolution")
    backtest.add_argument("--stat", help="CloudWatch statistic (default: the metric's usual)")
    backtest.add_argument("--period", default="60s", help="CloudWatch period")
    backtest.add_argument("--metric", help="the series' metric name in the product")
    backtest.add_argument(
        "--resource-label",
        action="append",
        help="label naming a Prometheus series' resource, in order (default instance, pod, job)",
    )
    backtest.add_argument(
        "--rules", type=Path, help="remediation rules to dry-run (default: SCOPS_RULES_PATH)"
    )
    backtest.add_argument(
        "--max-points", type=int, default=5_000_000, help="most points fetched in all"
    )
    backtest.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    keys = sub.add_parser("keys", help="manage the gateway's API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key (shown once)")
    create.add_argument("--name", required=True, help="who or what uses it")
    create.add_argument("--role", required=True, choices=["viewer", "operator", "admin", "ingest"])
    create.add_argument(
        "--owner",
        help="the person the key belongs to (default: its name); approvals count people, so "
        "two keys of one owner approve once",
    )
    keys_sub.add_parser("list", help="list keys (never their secrets)")
    revoke = keys_sub.add_parser("revoke", help="revoke a key at once")
    revoke.add_argument("key_id")
    serve = sub.add_parser("serve", help="run one service in the foreground")
    serve.add_argument(
        "name", choices=["gateway", "detector", "remediator", "notifier", "collector", "history"]
    )
    history = sub.add_parser("history", help="the durable history's database")
    history_sub = history.add_subparsers(dest="history_command", required=True)
    migrate = history_sub.add_parser("migrate", help="apply schema migrations (SCOPS_HISTORY_*)")
    migrate.add_argument("--revision", help="target revision (default: newest)")
    migrate.add_argument("--down", action="store_true", help="downgrade to --revision (needed)")
    worker = sub.add_parser("worker", help="run a Celery remediation worker")
    worker.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args(argv)

    # Imports are deferred so that `scops --help` stays fast.
    if args.command == "up":
        from scops.processes import HTTP_SERVICES, detector_processes
        from scops.supervisor import up as run_up

        for service in HTTP_SERVICES.values():
            service.settings()  # a refused configuration stops here, before anything starts

        try:
            detector_processes(max(args.detectors, 1))
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return run_up(args.run_dir, args.workers, detectors=args.detectors)
    if args.command == "demo":
        from scops.demo import run_demo

        return run_demo(args.timeout, args.run_dir)
    if args.command == "backtest":
        from scops.backtest_run import run as run_backtest

        if args.input and args.output is None:
            backtest.error("--output is required with --input")
        return run_backtest(args)
    if args.command == "keys":
        from scops.keys import run as run_keys

        return run_keys(
            args.keys_command,
            getattr(args, "name", None),
            getattr(args, "role", None),
            getattr(args, "key_id", None),
            getattr(args, "owner", None),
        )
    if args.command == "history":
        from services.history.migrate import run as run_migrate

        return run_migrate(args.revision, down=args.down)
    if args.command == "serve":
        from scops.serve import serve as run_serve

        run_serve(args.name)
        return 0
    from scops.serve import worker as run_worker

    run_worker(args.concurrency)
    return 0


if __name__ == "__main__":
    sys.exit(main())
