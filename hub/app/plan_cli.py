"""`heima plan check|simulate|show`: for the people who write self-care plans, and the operator.

    heima plan check PLAN.json
        exit 0 and a summary (JSON: activities, schedules, zones) when Heima can use the plan;
        exit 2 and the reason, naming the activity, when it cannot.
    heima plan simulate PLAN.json VALUES.json
        for values in time order, one JSON line each: zone, the rule that decided it, the advice,
        whether a re-measure is asked (and after how long), whether the centre is alerted.
        The same code the hub runs (hub.domain.careplan.check_plan / simulate).
    heima plan show
        the plan in force on this hub: its reference, title, since when, where from, and its
        activities — what the centre or the operator configured; never the patient's identity.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any, TextIO

EXIT_OK, EXIT_REFUSED = 0, 2
COMMANDS = frozenset({"plan"})


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    plan = sub.add_parser(
        "plan",
        parents=parents,
        help="check or simulate a self-care plan (FHIR CarePlan) with the hub's own code; show the plan in force",
        description="For plan authors and operators: the patient's self-care plan as Heima reads it.",
    )
    what = plan.add_subparsers(dest="plan_command", metavar="ACTION")
    check = what.add_parser("check", help="can Heima use this plan? exit 0 and a summary, or exit 2 and the reason")
    check.add_argument("plan", type=Path, metavar="PLAN.json", help="a FHIR R4 CarePlan (JSON)")
    simulate = what.add_parser("simulate", help="judge values in time order with the plan: one JSON line per value")
    simulate.add_argument("plan", type=Path, metavar="PLAN.json", help="a FHIR R4 CarePlan (JSON)")
    simulate.add_argument("values", type=Path, metavar="VALUES.json", help="a JSON list of values (docs/care-plan-format.md)")
    simulate.add_argument("--language", default="nb", choices=("nb", "nn", "en"), help="the advice's language (default nb)")
    what.add_parser("show", parents=parents, help="the plan in force on this hub (from the centre or the plan folder)")


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{what} {path} cannot be read ({exc.strerror or type(exc).__name__})") from None
    except (UnicodeDecodeError, ValueError):
        raise ValueError(f"{what} {path} is not JSON") from None


def check(path: Path, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    from hub.domain.careplan import PlanError, check_plan

    try:
        summary = check_plan(_read_json(path, "the plan"))
    except (PlanError, ValueError) as exc:
        print(f"heima plan check: {exc}", file=err)
        return EXIT_REFUSED
    print(json.dumps(summary, ensure_ascii=False, indent=2), file=out)
    return EXIT_OK


def simulate(plan_path: Path, values_path: Path, *, language: str = "nb", out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    from hub.domain.careplan import PlanError, ValuesError
    from hub.domain.careplan import simulate as run

    try:
        plan = _read_json(plan_path, "the plan")
        values = _read_json(values_path, "the values")
        if not isinstance(values, list):
            raise ValuesError("the values must be a JSON list, in time order")
        lines = list(run(plan, values, language=language))  # every value read before anything is printed
    except (PlanError, ValuesError, ValueError) as exc:
        print(f"heima plan simulate: {exc}", file=err)
        return EXIT_REFUSED
    for line in lines:
        print(json.dumps(line, ensure_ascii=False), file=out)
    return EXIT_OK


async def _in_force(database: Path) -> Any:
    from hub.store import Store
    from hub.store.plans import PlanStore

    store = await Store.open(database)
    try:
        plans = await PlanStore(store).plans()
    finally:
        await store.close()
    return plans[-1] if plans else None


def show(config: Any, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    from hub.domain.careplan import PlanError, check_plan

    database = Path(config.database_path)
    stored = asyncio.run(_in_force(database)) if database.exists() else None
    if stored is None:
        print("No self-care plan is in force on this hub: values get no zone and no advice.", file=out)
        return EXIT_OK
    try:
        summary = check_plan(stored.document)
    except PlanError as exc:  # stored when good; a Heima that reads it differently now
        print(f"heima plan show: the stored plan can no longer be used: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    summary = {
        "plan": summary["plan"],
        "title": summary["title"],
        "in_force_since": stored.in_force_from.isoformat(),
        "source": stored.source,
        "activities": summary["activities"],
    }
    print(json.dumps(summary, ensure_ascii=False, indent=2), file=out)
    return EXIT_OK


def main(args: argparse.Namespace) -> int:
    command = getattr(args, "plan_command", None)
    if command == "check":
        return check(args.plan)
    if command == "simulate":
        return simulate(args.plan, args.values, language=args.language)
    if command == "show":
        from hub.config import ConfigError, load_config

        try:
            config = load_config(getattr(args, "config", None))
        except ConfigError as exc:
            print(f"heima plan show: {exc}", file=sys.stderr)
            return EXIT_REFUSED
        data_dir = getattr(args, "data_dir", None)
        if data_dir is not None:
            config = dataclasses.replace(config, data_dir=data_dir.absolute())
        return show(config)
    print("heima plan: give an action: check PLAN.json, simulate PLAN.json VALUES.json, or show", file=sys.stderr)
    return EXIT_REFUSED


__all__ = ["COMMANDS", "check", "main", "register", "show", "simulate"]
