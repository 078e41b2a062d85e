"""FormState: a questionnaire being answered. Immutable: every change returns a new state.

The state holds the answers the patient gave (its QuestionnaireResponse is derived from them)
and works out, after each answer, what follows from it: which items are enabled, the calculated
values and the SDC variables. Screens only draw `visible_items()` and send answers back (the
Android FHIR SDK's shape). An answer to an item that becomes disabled leaves the response at once
and is kept aside: it comes back if the item is enabled again before submit.

Paths: an item instance is named by its path, a tuple of (linkId, instance) from the top; the
instance is 0 except inside a repeating group. Where a linkId has one instance, the linkId alone
will do (`state.answer("q1", True)`).

Only what depends on an answer is re-evaluated (the plan's order, see plan.py); `recomputed()`
works everything out from scratch, which is what the tests and the benchmark compare against.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Iterable, Sequence

from hub.domain.questionnaire.errors import (
    NotAnOption, ReadOnlyItem, ResponseMismatch, UnknownItem, UnsupportedItem, WrongAnswerType,
)
from hub.domain.questionnaire.expressions import Expression, evaluate, response_item
from hub.domain.questionnaire.model import EnableWhen, Item, Questionnaire
from hub.domain.questionnaire.plan import ROOT, Node
from hub.domain.questionnaire.scoring import Score, Scores, answer_score, as_number, option_for
from hub.domain.questionnaire.values import (
    Coding, Quantity, Value, is_number, order_key, parse_value, value_to_fhir, values_equal,
)

Path = tuple[tuple[str, int], ...]
_PASSES = 5  # bound on re-running whole-form expressions until nothing changes


@dataclass(frozen=True)
class VisibleItem:
    """One thing a screen shows, in form order."""

    path: Path
    item: Item
    answers: tuple[Value, ...]
    depth: int
    calculated: bool  # its value is worked out by the form: show it, do not ask for it

    @property
    def link_id(self) -> str:
        return self.item.link_id

    @property
    def read_only(self) -> bool:
        return self.item.read_only or self.calculated or not self.item.supported


@dataclass(frozen=True)
class Problem:
    """Why the form cannot be sent yet; names the item and the rule, never the answer."""

    path: Path
    link_id: str
    kind: str  # required, min-value, max-value, min-length, max-length, regex, max-decimal-places, min-occurs, max-occurs
    limit: str | None = None


class FormState:
    __slots__ = ("q", "now", "patient", "_given", "_counts", "_instances", "_enabled", "_calc", "_vars", "_effective", "_qr")

    def __init__(self, q: Questionnaire, now: datetime, patient: dict | None, given: dict, counts: dict) -> None:
        self.q = q
        self.now = now
        self.patient = patient
        self._given: dict[Path, tuple[Value, ...]] = given
        self._counts: dict[tuple[Path, str], int] = counts
        self._instances: dict[str, tuple[Path, ...]] = _instances(q, counts)
        self._enabled: dict[Path, bool] = {}
        self._calc: dict[Path, tuple[Value, ...]] = {}
        self._vars: dict[tuple[str, Path], list] = {}
        self._effective: dict[Path, tuple[Value, ...]] = {}
        self._qr: dict | None = None  # keep-set -> (response, index), dropped on any change

    # ----- starting ---------------------------------------------------------------------------

    @classmethod
    def start(cls, q: Questionnaire, *, now: datetime, patient: dict | None = None) -> "FormState":
        """A new form: initial values, initialSelected options and initialExpressions filled in."""
        _need_zone(now)
        s = cls(q, now, patient, {}, {})
        for item in q.walk():
            for p in s._instances[item.link_id]:
                s._fill_static_initial(item, p)
        s._evaluate_all()
        if any(i.initial_expression for i in q.walk()):
            for item in q.walk():
                if item.initial_expression is not None:
                    for p in s._instances[item.link_id]:
                        s._fill_initial_expression(item, p)
            s._evaluate_all()
        return s

    @classmethod
    def resume(cls, q: Questionnaire, response: dict, *, now: datetime, patient: dict | None = None) -> "FormState":
        """A form half-answered earlier, from its stored QuestionnaireResponse.

        Refused (ResponseMismatch, WrongAnswerType, NotAnOption) when the response belongs to
        another form or holds an answer of the wrong type: refused, never coerced.
        """
        _need_zone(now)
        if not isinstance(response, dict) or response.get("resourceType") != "QuestionnaireResponse":
            raise ResponseMismatch("-", "this is not a QuestionnaireResponse")
        named = response.get("questionnaire")
        if q.url is not None and named is not None and named not in (q.canonical, q.url):
            raise ResponseMismatch("-", "the response was made for another questionnaire or another version of it")
        given: dict[Path, tuple[Value, ...]] = {}
        counts: dict[tuple[Path, str], int] = {}
        _read_items(q, response.get("item", []), q.items, (), given, counts)
        s = cls(q, now, patient, given, counts)
        s._evaluate_all()
        return s

    # ----- changing ---------------------------------------------------------------------------

    def answer(self, path: Path | str, value: Value | Sequence[Value] | None) -> "FormState":
        """A new state with this item's answer(s) set; None or [] clears it.

        Refused with a typed AnswerError: a value of the wrong type, not among the options, a
        read-only, calculated or unsupported item, several values for an item that does not repeat.
        """
        p = self._path(path)
        item = self.q.by_link_id[p[-1][0]]
        if not item.is_question:
            raise WrongAnswerType(item.link_id, f"a {item.type} item takes no answers")
        if not item.supported:
            raise UnsupportedItem(item.link_id, f"Heima cannot take {item.type} answers yet: answer this one with your care team")
        if item.read_only or item.calculated_expression is not None or item.scoring is not None:
            raise ReadOnlyItem(item.link_id, "this item is read-only (or worked out by the form)")
        values = _as_list(value)
        accepted = tuple(v for v in (accept(item, v) for v in values) if v is not None)
        if len(accepted) > 1 and not item.repeats:
            raise WrongAnswerType(item.link_id, "this item takes one answer")
        s = self._copy()
        if accepted:
            s._given[p] = accepted
        else:
            s._given.pop(p, None)
        s._update_item(item, p)
        return s

    def add_group(self, path: Path | str) -> "FormState":
        """A new state with one more instance of a repeating group (after the last one)."""
        p = self._path(path)
        item = self.q.by_link_id[p[-1][0]]
        if item.type != "group" or not item.repeats:
            raise WrongAnswerType(item.link_id, "only a repeating group can be added again")
        key = (p[:-1], item.link_id)
        counts = dict(self._counts)
        counts[key] = self._counts.get(key, 1) + 1
        s = FormState(self.q, self.now, self.patient, dict(self._given), counts)
        new = p[:-1] + ((item.link_id, counts[key] - 1),)
        for sub in _subtree(item):
            for ip in s._instances[sub.link_id]:
                if ip[: len(new)] == new:
                    s._fill_static_initial(sub, ip)
        s._evaluate_all()
        return s

    def remove_group(self, path: Path | str) -> "FormState":
        """A new state without this instance of a repeating group (the last one is emptied instead)."""
        p = self._path(path)
        item = self.q.by_link_id[p[-1][0]]
        if item.type != "group" or not item.repeats:
            raise WrongAnswerType(item.link_id, "only an instance of a repeating group can be removed")
        key = (p[:-1], item.link_id)
        n, gone = self._counts.get(key, 1), p[-1][1]
        depth = len(p) - 1
        given: dict[Path, tuple[Value, ...]] = {}
        counts: dict[tuple[Path, str], int] = {}
        for gp, v in self._given.items():
            moved = _shift(gp, p[:-1], item.link_id, depth, gone, n)
            if moved is not None:
                given[moved] = v
        for (cp, lid), c in self._counts.items():
            moved = _shift(cp, p[:-1], item.link_id, depth, gone, n) if len(cp) > depth else cp
            if moved is not None:
                counts[(moved, lid)] = c
        counts[key] = max(1, n - 1)
        s = FormState(self.q, self.now, self.patient, given, counts)
        s._evaluate_all()
        return s

    # ----- reading ----------------------------------------------------------------------------

    def answers(self, path: Path | str) -> tuple[Value, ...]:
        """What the response holds for the item now (empty when it is disabled)."""
        return self._effective.get(self._path(path), ())

    def is_enabled(self, path: Path | str) -> bool:
        return self._enabled.get(self._path(path), False)

    def instances(self, link_id: str) -> tuple[Path, ...]:
        return self._instances[link_id]

    def visible_items(self) -> tuple[VisibleItem, ...]:
        """What the screens show, in form order: enabled, not hidden; help texts ride on their item."""
        out: list[VisibleItem] = []

        def go(items: tuple[Item, ...], parent: Path, depth: int) -> None:
            for item in items:
                if item.hidden or (item.type == "display" and item.item_control == "help"):
                    continue
                for p in self._children(parent, item):
                    if not self._enabled.get(p):
                        continue
                    calculated = item.calculated_expression is not None or item.scoring is not None
                    out.append(VisibleItem(p, item, self._effective.get(p, ()), depth, calculated))
                    go(item.items, p, depth + 1)

        go(self.q.items, (), 0)
        return tuple(out)

    def problems(self) -> tuple[Problem, ...]:
        """What stops the form being sent: missing required answers, values outside the limits."""
        out: list[Problem] = []
        for item in self.q.walk():
            if not item.is_question and item.type != "group":
                continue
            for p in self._instances[item.link_id]:
                if not self._enabled.get(p) or item.hidden:
                    continue
                out.extend(_problems(self, item, p))
        return tuple(out)

    def scores(self) -> Scores:
        questions: dict[Path, Decimal] = {}
        scored = False
        for item in self.q.walk():
            if not item.is_scored_choice:
                continue
            scored = True
            for p in self._instances[item.link_id]:
                answers = self._effective.get(p, ())
                if answers:
                    questions[p] = answer_score(item, answers)
        items: list[Score] = []
        for item in self.q.walk():
            if item.scoring is None and not (item.calculated_expression is not None and item.type in ("decimal", "integer", "quantity")):
                continue
            kind = {"QS": "question", "SS": "section", "TS": "total"}.get(item.scoring or "", "calculated")
            for p in self._instances[item.link_id]:
                for v in self._effective.get(p, ())[:1]:
                    n = as_number(v)
                    if n is not None:
                        items.append(Score(item.link_id, p, n, kind, item.code, item.text))  # type: ignore[arg-type]
        total = sum(questions.values(), Decimal(0)) if scored else None
        return Scores(total, questions, tuple(items))

    def response(self, *, now: datetime, subject: dict | None = None, source: dict | None = None,
                 author: dict | None = None, status: str = "completed", id: str | None = None) -> dict:
        """The QuestionnaireResponse: enabled answers only, calculated values filled in."""
        _need_zone(now)
        qr, _ = self._build_qr()
        out: dict[str, Any] = {"resourceType": "QuestionnaireResponse"}
        if id is not None:
            out["id"] = id
        if self.q.canonical is not None:
            out["questionnaire"] = self.q.canonical
        out["status"] = status
        if subject is not None:
            out["subject"] = subject
        out["authored"] = now.isoformat()
        if author is not None:
            out["author"] = author
        if source is not None:
            out["source"] = source
        if qr.get("item"):
            out["item"] = qr["item"]
        return out

    def saved(self, *, now: datetime) -> dict:
        """What to save to resume this form exactly (status in-progress): every answer the patient
        gave, those of items disabled now too (kept aside, they come back if the item is enabled
        again), and every instance of a repeating group, empty ones too. `resume` reads it back to
        the same answers and the same enabled items. Not for sending: `response` is that."""
        _need_zone(now)

        def items(defs: tuple[Item, ...], parent: Path) -> list[dict]:
            out: list[dict] = []
            for item in defs:
                if item.type == "display":
                    continue
                for p in self._children(parent, item):
                    node: dict[str, Any] = {"linkId": item.link_id}
                    children = items(item.items, p)
                    answers = self._given.get(p, ()) if item.calculated_expression is None and item.scoring is None else ()
                    if answers:
                        node["answer"] = [value_to_fhir(a, as_uri=item.type == "url") for a in answers]
                    if children:
                        node["item"] = children
                    if item.type == "group" or answers or children:
                        out.append(node)
            return out

        out: dict[str, Any] = {"resourceType": "QuestionnaireResponse", "status": "in-progress"}
        if self.q.canonical is not None:
            out["questionnaire"] = self.q.canonical
        out["authored"] = now.isoformat()
        found = items(self.q.items, ())
        if found:
            out["item"] = found
        return out

    def recomputed(self) -> "FormState":
        """The same answers worked out from scratch (the naive way; for tests and benchmarks)."""
        s = FormState(self.q, self.now, self.patient, dict(self._given), dict(self._counts))
        s._evaluate_all()
        return s

    # ----- the work ---------------------------------------------------------------------------

    def _copy(self) -> "FormState":
        s = FormState.__new__(FormState)
        s.q, s.now, s.patient = self.q, self.now, self.patient
        s._given = dict(self._given)
        s._counts = self._counts
        s._instances = self._instances
        s._enabled = dict(self._enabled)
        s._calc = dict(self._calc)
        s._vars = dict(self._vars)
        s._effective = dict(self._effective)
        s._qr = None
        return s

    def _path(self, path: Path | str) -> Path:
        if isinstance(path, str):
            if path not in self.q.by_link_id:
                raise UnknownItem(path, "no item of this form has this linkId")
            found = self._instances[path]
            if len(found) != 1:
                raise UnknownItem(path, "this item is inside a repeating group: name the instance with its path")
            return found[0]
        p = tuple(tuple(seg) for seg in path)  # type: ignore[misc]
        if not p or p[-1][0] not in self.q.by_link_id or p not in self._instances[p[-1][0]]:
            raise UnknownItem(str(p[-1][0]) if p else "-", "no such item instance in this form")
        return p  # type: ignore[return-value]

    def _children(self, parent: Path, item: Item) -> list[Path]:
        n = self._counts.get((parent, item.link_id), 1) if item.type == "group" and item.repeats else 1
        return [parent + ((item.link_id, i),) for i in range(n)]

    def _update_item(self, item: Item, p: Path) -> None:
        """After the patient's answer: the item's own value, then what depends on it."""
        eff = self._given.get(p, ()) if self._enabled.get(p) else ()
        if eff != self._effective.get(p, ()):
            self._effective[p] = eff
            self._qr = None
            self._propagate({item.link_id})

    def _evaluate_all(self) -> None:
        self._qr = None
        self._propagate(None)

    def _propagate(self, changed: set[str] | None) -> None:
        """Re-evaluate, in dependency order, the nodes that read something that changed.

        changed=None: everything (the naive full evaluation). Nodes that read answers they do not
        name run whenever anything changed; if they change, another pass lets their readers see it.
        """
        order = self.q.plan.order
        pending: set[str] | None = changed
        for _ in range(_PASSES):
            now_changed: set[str] = set()
            whole_changed = False
            for node in order:
                if pending is None:
                    run = True
                elif node.whole:
                    run = bool(pending or now_changed)
                else:
                    run = bool(node.deps & pending) or bool(node.deps & now_changed)
                if run and self._run(node):
                    now_changed.add(node.key)
                    whole_changed = whole_changed or node.whole
            if not whole_changed or pending is None and not now_changed:
                return
            pending = now_changed

    def _run(self, node: Node) -> bool:
        if node.kind == "variable":
            return self._run_variable(node)
        item = self.q.by_link_id[node.key]
        changed = False
        for p in self._instances[item.link_id]:
            parent = p[:-1]
            on = (not parent or self._enabled.get(parent, False)) and self._enable_when(item, p)
            if on and item.enable_when_expression is not None:
                on = self._eval(item.enable_when_expression, item, p) == [True]
            if on and item.calculated_expression is not None:
                value = _coerce_result(item, self._eval(item.calculated_expression, item, p))
            elif on and item.scoring is not None:
                value = self._helsenorge_score(item, p)
            elif on:
                value = self._given.get(p, ())
            else:
                value = ()
            if item.calculated_expression is not None or item.scoring is not None:
                self._calc[p] = value
            if not item.is_question:
                value = ()
            if self._enabled.get(p) != on or self._effective.get(p, ()) != value:
                self._enabled[p] = on
                self._effective[p] = value
                self._qr = None
                changed = True
        return changed

    def _run_variable(self, node: Node) -> bool:
        scopes = self._instances[node.link_id] if node.link_id is not None else [()]
        changed = False
        for sp in scopes:
            if node.link_id is not None and not self._enabled.get(sp, False):
                value: list = []
            else:
                item = self.q.by_link_id[node.link_id] if node.link_id is not None else None
                value = self._eval(node.expression, item, sp)  # type: ignore[arg-type]
            key = (node.key, sp)
            if self._vars.get(key) != value:
                self._vars[key] = value
                changed = True
        return changed

    def _enable_when(self, item: Item, p: Path) -> bool:
        if not item.enable_when:
            return True
        results = (self._condition(ew, p) for ew in item.enable_when)
        return all(results) if item.enable_behavior == "all" else any(results)

    def _condition(self, ew: EnableWhen, p: Path) -> bool:
        answers = [a for t in self._related(ew.question, p) for a in self._effective.get(t, ())]
        return condition_holds(ew, answers)

    def _related(self, link_id: str, p: Path) -> list[Path]:
        """The instances of `link_id` an item at p sees: those in the same repeat instances as p."""
        chain = (*self.q.ancestors(link_id), link_id)
        k = 0
        while k < len(chain) and k < len(p) and p[k][0] == chain[k]:
            k += 1
        prefix = p[:k]
        return [t for t in self._instances[link_id] if t[:k] == prefix]

    def _helsenorge_score(self, item: Item, p: Path) -> tuple[Value, ...]:
        node = self.q.plan.by_key[item.link_id]
        within = () if item.scoring == "TS" else p[:-1]
        total = Decimal(0)
        for lid in node.deps:
            q_item = self.q.by_link_id[lid]
            if not q_item.is_scored_choice:
                continue
            for t in self._instances[lid]:
                if t[: len(within)] == within:
                    total += answer_score(q_item, self._effective.get(t, ()))
        return _coerce_result(item, [total])

    def _eval(self, expr: Expression, item: Item | None, p: Path) -> list:
        # An expression that names the items it reads runs on a response cut down to those items
        # (and their ancestors): fhirpathpy walks a whole 500-item response slowly.
        qr, index = self._build_qr(None if expr.reads_everything else self._keep(expr, item))
        env: dict[str, Any] = {
            "resource": qr,
            "rootResource": qr,
            "context": response_item(index.get(p, {"linkId": p[-1][0]})) if p else qr,
            "questionnaire": self.q.raw,
            "qitem": item.raw if item is not None else {},
            "patient": self.patient if self.patient is not None else [],
        }
        for name in self.q.plan.launch - env.keys():
            env[name] = []
        scope = item.link_id if item is not None else ROOT
        for name in expr.variables:
            key = self.q.plan.variables.get((scope, name))
            if key is None:
                continue
            owner = key.rsplit("@", 1)[1]
            sp: Path = ()
            if owner != ROOT:
                for n, seg in enumerate(p):
                    if seg[0] == owner:
                        sp = p[: n + 1]
            env[name] = self._vars.get((key, sp), [])
        # The focus: a variable's own item, an item expression's enclosing item (so a form's
        # relative `item.where(linkId='sibling')` finds its siblings), the response at the top.
        focus_path = p if expr in (item.variables if item is not None else ()) else p[:-1]
        focus = response_item(index.get(focus_path, {"linkId": focus_path[-1][0]})) if focus_path else qr
        try:
            return evaluate(expr, focus, env, self.now)
        except Exception:  # noqa: BLE001 — a form's expression failing on some answers is no answer, not a crash
            return []

    def _keep(self, expr: Expression, item: Item | None) -> frozenset[str]:
        cache = self.q.plan.keep
        key = (item.link_id if item is not None else None, expr)
        found = cache.get(key)
        if found is None:
            named = set(expr.link_ids) & self.q.by_link_id.keys()
            for lid in list(named):
                named |= {i.link_id for i in _subtree(self.q.by_link_id[lid])}
            if item is not None:
                named.add(item.link_id)
            for lid in list(named):
                named |= set(self.q.ancestors(lid))
            found = cache[key] = frozenset(named)
        return found

    def _build_qr(self, keep: frozenset[str] | None = None) -> tuple[dict, dict]:
        if self._qr is None:
            self._qr = {}  # type: ignore[assignment]
        built = self._qr.get(keep)  # type: ignore[union-attr]
        if built is None:
            index: dict[Path, dict] = {}
            root = {"resourceType": "QuestionnaireResponse", "status": "in-progress"}
            items = self._qr_items(self.q.items, (), index, keep)
            if items:
                root["item"] = items
            built = self._qr[keep] = (root, index)  # type: ignore[index]
        return built

    def _qr_items(self, items: tuple[Item, ...], parent: Path, index: dict, keep: frozenset[str] | None = None) -> list[dict]:
        out: list[dict] = []
        for item in items:
            if item.type == "display" or (keep is not None and item.link_id not in keep):
                continue
            for p in self._children(parent, item):
                if not self._enabled.get(p):
                    continue
                node: dict[str, Any] = {"linkId": item.link_id}
                if item.text:
                    node["text"] = item.text
                children = self._qr_items(item.items, p, index, keep)
                if item.type == "group":
                    if not children:
                        continue
                    node["item"] = children
                else:
                    answers = self._effective.get(p, ())
                    if not answers:
                        continue
                    node["answer"] = [value_to_fhir(a, as_uri=item.type == "url") for a in answers]
                    if children:  # a question's own child items sit under its (first) answer
                        node["answer"][0]["item"] = children
                index[p] = node
                out.append(node)
        return out

    def _fill_static_initial(self, item: Item, p: Path) -> None:
        if not item.is_question or item.calculated_expression is not None:
            return
        values = item.initial or tuple(o.value for o in item.options if o.initial_selected)
        if values:
            self._given[p] = values if item.repeats else values[:1]

    def _fill_initial_expression(self, item: Item, p: Path) -> None:
        if self._given.get(p):
            return
        values = _coerce_result(item, self._eval(item.initial_expression, item, p))  # type: ignore[arg-type]
        if values:
            self._given[p] = values


# ----- pure helpers ---------------------------------------------------------------------------

def condition_holds(ew: EnableWhen, answers: list[Value]) -> bool:
    """One enableWhen against the answers it sees.

    exists: an answer exists (or not). With no answer, != holds and the other operators do not.
    = holds when some answer equals; != when none does; ordering when some answer compares so.
    """
    if ew.operator == "exists":
        return bool(answers) == ew.answer
    if not answers:
        return ew.operator == "!="
    if ew.operator == "=":
        return any(values_equal(a, ew.answer) for a in answers)
    if ew.operator == "!=":
        return not any(values_equal(a, ew.answer) for a in answers)
    want = order_key(ew.answer)
    for a in answers:
        have = order_key(a)
        try:
            if ew.operator == ">" and have > want or ew.operator == "<" and have < want \
                    or ew.operator == ">=" and have >= want or ew.operator == "<=" and have <= want:
                return True
        except TypeError:  # a Coding answer to an open-choice compared by order: not comparable
            continue
    return False


def accept(item: Item, value: Any) -> Value | None:
    """The value as this item takes it, or a typed refusal. Blank text is no answer."""
    t, lid = item.type, item.link_id

    def wrong() -> WrongAnswerType:
        return WrongAnswerType(lid, f"a {t} item does not take this kind of value")

    if isinstance(value, str) and not value.strip() and t in ("string", "text", "url", "open-choice"):
        return None
    if item.options and t in ("choice", "open-choice", "integer", "date", "time", "string", "text"):
        o = option_for(item, value)
        if o is not None:
            return o.value
        if t == "open-choice" and isinstance(value, str):
            return value
        if isinstance(value, (Coding, int, str, date, time)):
            raise NotAnOption(lid, "this value is not one of the item's options")
        raise wrong()
    if t == "boolean":
        if not isinstance(value, bool):
            raise wrong()
        return value
    if t == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong()
        return value
    if t == "decimal":
        if isinstance(value, bool) or not isinstance(value, (int, Decimal)) or (isinstance(value, Decimal) and not value.is_finite()):
            raise wrong()
        return Decimal(value)
    if t == "date":
        if isinstance(value, datetime) or not isinstance(value, date):
            raise wrong()
        return value
    if t == "dateTime":
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise wrong()
        return value
    if t == "time":
        if not isinstance(value, time):
            raise wrong()
        return value
    if t in ("string", "text", "url"):
        if not isinstance(value, str):
            raise wrong()
        return value
    if t == "quantity":
        if is_number(value):
            unit = item.unit or (item.unit_options[0] if item.unit_options else None)
            value = Quantity(Decimal(value), unit.display or unit.code if unit else None,
                             unit.system if unit else None, unit.code if unit else None)
        if not isinstance(value, Quantity) or not value.value.is_finite():
            raise wrong()
        if item.unit_options and not any((value.code or value.unit) in (u.code, u.display) for u in item.unit_options):
            raise NotAnOption(lid, "this unit is not one of the item's unit options")
        return value
    if t in ("choice", "open-choice"):
        if t == "open-choice" and isinstance(value, str):
            return value
        raise NotAnOption(lid, "this value is not one of the item's options")
    raise wrong()


def _coerce_result(item: Item, results: list) -> tuple[Value, ...]:
    """A calculation's FHIRPath result as the item's values; what does not fit is no value."""
    out: list[Value] = []
    for r in results:
        v = _fit(item, r)
        if v is not None:
            out.append(v)
    return tuple(out if item.repeats else out[:1])


def _fit(item: Item, r: Any) -> Value | None:
    t = item.type
    number = None if isinstance(r, bool) else (Decimal(str(r)) if isinstance(r, (int, float, Decimal)) else None)
    if isinstance(r, dict) and "value" in r and t == "quantity":
        number = Decimal(str(r["value"])) if isinstance(r["value"], (int, float, Decimal)) else None
    if number is not None and not number.is_finite():
        return None
    if number is not None and item.max_decimal_places is not None:
        number = number.quantize(Decimal(1).scaleb(-item.max_decimal_places))
    if t == "boolean" and isinstance(r, bool):
        return r
    if t == "integer" and number is not None:
        return int(number) if number == number.to_integral_value() else None
    if t == "decimal" and number is not None:
        return number.normalize() if number == number.to_integral_value() else number
    if t == "quantity" and number is not None:
        u = item.unit
        return Quantity(number, u.display or u.code if u else None, u.system if u else None, u.code if u else None)
    if t in ("string", "text", "url") and isinstance(r, (str, int, Decimal)) and not isinstance(r, bool):
        return str(r)
    if t in ("date", "dateTime", "time") and isinstance(r, str):
        key = {"date": "valueDate", "dateTime": "valueDateTime", "time": "valueTime"}[t]
        try:
            return parse_value(key, r[:10] if t == "date" else r, item.link_id)
        except WrongAnswerType:
            return None
    if t in ("choice", "open-choice") and isinstance(r, dict) and isinstance(r.get("code"), str):
        return Coding(r["code"], r.get("system"), r.get("display"))
    if t == "open-choice" and isinstance(r, str):
        return r
    return None


def _problems(s: FormState, item: Item, p: Path) -> list[Problem]:
    lid = item.link_id
    answers = s._effective.get(p, ())
    out: list[Problem] = []
    if item.type == "group":
        if item.required and not _group_answered(s, p):
            out.append(Problem(p, lid, "required"))
        if item.repeats:
            n = s._counts.get((p[:-1], lid), 1)
            if item.max_occurs is not None and n > item.max_occurs and p[-1][1] == 0:
                out.append(Problem(p, lid, "max-occurs", str(item.max_occurs)))
        return out
    calculated = item.calculated_expression is not None or item.scoring is not None
    if item.required and not answers and not calculated and not item.read_only:
        out.append(Problem(p, lid, "required"))
    if item.repeats and answers:
        if item.min_occurs is not None and len(answers) < item.min_occurs:
            out.append(Problem(p, lid, "min-occurs", str(item.min_occurs)))
        if item.max_occurs is not None and len(answers) > item.max_occurs:
            out.append(Problem(p, lid, "max-occurs", str(item.max_occurs)))
    for a in answers:
        if item.min_value is not None and _below(a, item.min_value):
            out.append(Problem(p, lid, "min-value", _limit_text(item.min_value)))
        if item.max_value is not None and _below(item.max_value, a):
            out.append(Problem(p, lid, "max-value", _limit_text(item.max_value)))
        if isinstance(a, str):
            if item.max_length is not None and len(a) > item.max_length:
                out.append(Problem(p, lid, "max-length", str(item.max_length)))
            if item.min_length is not None and len(a) < item.min_length:
                out.append(Problem(p, lid, "min-length", str(item.min_length)))
            if item.regex is not None and re.fullmatch(item.regex, a) is None:
                out.append(Problem(p, lid, "regex"))
        number = as_number(a)
        if number is not None and item.max_decimal_places is not None and -number.as_tuple().exponent > item.max_decimal_places:  # type: ignore[operator]
            out.append(Problem(p, lid, "max-decimal-places", str(item.max_decimal_places)))
    return out


def _group_answered(s: FormState, p: Path) -> bool:
    n = len(p)
    return any(v and k[:n] == p for k, v in s._effective.items())


def _below(a: Value, b: Value) -> bool:
    """a < b where the two can be compared (a number with a number, a date with a date ...)."""
    x, y = as_number(a), as_number(b)
    if x is not None and y is not None:
        return x < y
    if type(a) is type(b) and isinstance(a, (date, datetime, time, str)):
        try:
            return a < b  # type: ignore[operator]
        except TypeError:
            return False
    if isinstance(a, datetime) and type(b) is date:
        return a.date() < b
    return False


def _limit_text(v: Value) -> str:
    n = as_number(v)
    return str(n) if n is not None else str(v)


def _as_list(value: Any) -> list:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _need_zone(now: datetime) -> None:
    if not isinstance(now, datetime) or now.tzinfo is None:
        raise ValueError("now must be a datetime with a time zone")


def _subtree(item: Item) -> list[Item]:
    out = [item]
    for c in item.items:
        out.extend(_subtree(c))
    return out


def _instances(q: Questionnaire, counts: dict) -> dict[str, tuple[Path, ...]]:
    out: dict[str, list[Path]] = {i.link_id: [] for i in q.walk()}

    def go(items: tuple[Item, ...], parent: Path) -> None:
        for item in items:
            n = counts.get((parent, item.link_id), 1) if item.type == "group" and item.repeats else 1
            for i in range(n):
                p = parent + ((item.link_id, i),)
                out[item.link_id].append(p)
                go(item.items, p)

    go(q.items, ())
    return {k: tuple(v) for k, v in out.items()}


def _shift(path: Path, parent: Path, link_id: str, depth: int, gone: int, n: int) -> Path | None:
    """A path after instance `gone` of a repeating group was removed: dropped, kept or moved up one."""
    if len(path) <= depth or path[:depth] != parent or path[depth][0] != link_id:
        return path
    i = path[depth][1]
    if i == gone:
        return None if n > 1 else None
    if i > gone:
        return path[:depth] + ((link_id, i - 1),) + path[depth + 1:]
    return path


def _read_items(q: Questionnaire, raw_items: Any, defs: tuple[Item, ...], parent: Path,
                given: dict, counts: dict) -> None:
    """A stored response's items into answers by path; strict about types and options."""
    if not isinstance(raw_items, list):
        raise ResponseMismatch("-", "item must be a list")
    by_id = {d.link_id: d for d in defs}
    seen: dict[str, int] = {}
    for r in raw_items:
        lid = r.get("linkId") if isinstance(r, dict) else None
        if not isinstance(lid, str) or lid not in by_id:
            raise ResponseMismatch(str(lid), "the response has an item this form does not have here")
        item = by_id[lid]
        i = seen.get(lid, 0)
        seen[lid] = i + 1
        if i > 0 and not (item.type == "group" and item.repeats):
            raise ResponseMismatch(lid, "the response repeats an item that does not repeat")
        p = parent + ((lid, i),)
        try:
            _read_item(q, r, item, parent, p, i, given, counts)
        except (TypeError, AttributeError, KeyError):  # null, a list or a number where FHIR has another type
            raise ResponseMismatch(lid, "a field of this item in the response has the wrong JSON type") from None


def _read_item(q: Questionnaire, r: dict, item: Item, parent: Path, p: Path, i: int, given: dict, counts: dict) -> None:
    """One item of a stored response (a group's instance, or a question's answers)."""
    lid = item.link_id
    if item.type == "group":
        counts[(parent, lid)] = i + 1
        _read_items(q, r.get("item", []), item.items, p, given, counts)
        return
    values: list[Value] = []
    for a in r.get("answer", []):
        key = next((k for k in a if k.startswith("value")), None) if isinstance(a, dict) else None
        if key is None:
            raise WrongAnswerType(lid, "an answer has no value")
        v = parse_value(key, a[key], lid)
        if key == "valueUri" and item.type != "url" or key == "valueString" and item.type == "url":
            raise WrongAnswerType(lid, f"{key} is not how a {item.type} item is answered")
        values.append(v)
        if a.get("item"):
            _read_items(q, a["item"], item.items, p, given, counts)
    if r.get("item"):
        _read_items(q, r["item"], item.items, p, given, counts)
    if values:
        if item.calculated_expression is not None or item.scoring is not None:
            return  # worked out again from the answers
        if not item.supported:
            raise UnsupportedItem(lid, f"Heima cannot take {item.type} answers yet")
        checked = tuple(_stored(item, v) for v in values)
        if len(checked) > 1 and not item.repeats:
            raise WrongAnswerType(lid, "several answers to an item that does not repeat")
        given[p] = checked


def _stored(item: Item, v: Value) -> Value:
    """A stored answer checked like a new one, but never converted (an int is not a decimal)."""
    if item.type == "decimal" and not isinstance(v, Decimal) or item.type == "integer" and isinstance(v, Decimal):
        raise WrongAnswerType(item.link_id, f"a {item.type} item was stored with a value of another type")
    if item.type in ("choice", "open-choice") and not item.options and isinstance(v, Coding):
        return v
    result = accept(item, v)
    if result is None:
        raise WrongAnswerType(item.link_id, "a stored answer is empty")
    return result
