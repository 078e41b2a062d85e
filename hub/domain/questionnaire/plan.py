"""The order in which an answer's consequences are worked out, made once per Questionnaire.

Every item and every SDC variable is a node; a node depends on its parent (a disabled group
disables what is in it), on the questions its enableWhen names, and on the items and variables
its expressions name. Nodes are sorted so that whatever a node reads is worked out before it.
An answer then re-evaluates only the nodes downstream of it (see state.py); an expression that
reads answers without naming them (`reads_everything`) is re-evaluated after every change.
A cycle is refused here, naming an item on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from hub.domain.questionnaire.errors import EnableWhenCycle, InvalidExpression
from hub.domain.questionnaire.expressions import ENVIRONMENT, Expression

ROOT = ""  # the scope key of the form's own variables


@dataclass(frozen=True)
class Node:
    key: str  # an item's linkId, or "%name@scope" for a variable
    kind: Literal["item", "variable"]
    link_id: str | None  # the item, or the item a variable sits on (None: the form)
    deps: frozenset[str]
    whole: bool  # reads answers it does not name
    expression: Expression | None = None  # a variable's
    ew_deps: frozenset[str] = frozenset()  # the deps that come from enableWhen (to name cycles)


@dataclass(frozen=True)
class Plan:
    order: tuple[Node, ...]
    by_key: dict[str, Node]
    # (scope linkId or ROOT, %name) -> the variable node's key, for every name an expression reads
    variables: dict[tuple[str, str], str]
    launch: frozenset[str]
    keep: dict = field(default_factory=dict)  # (item, expression) -> the linkIds its response needs; filled on use


def build_plan(q) -> Plan:
    launch = frozenset(q.launch_contexts) | ENVIRONMENT
    nodes: dict[str, Node] = {}
    resolved: dict[tuple[str, str], str] = {}
    descendants = _descendants(q)

    def names_of(expr: Expression) -> set[str]:
        out: set[str] = set()
        for lid in expr.link_ids:
            if lid in q.by_link_id:  # a name no item has reads nothing (and stays empty)
                out.add(lid)
                out |= descendants[lid]
        return out

    def var_deps(expr: Expression, scope: str, scope_chain: list[str], before: list[str], owner: str | None) -> set[str]:
        deps: set[str] = set()
        for name in expr.variables:
            if name in launch:
                continue
            key = _resolve(name, scope_chain, before, q)
            if key is None:
                raise InvalidExpression(owner, f"an expression reads %{name}, which no variable in scope and no launch context defines")
            resolved[(scope, name)] = key
            deps.add(key)
        return deps

    def add_variables(owner: str | None, exprs: tuple[Expression, ...], chain: list[str]) -> None:
        scope = owner or ROOT
        before: list[str] = []
        for expr in exprs:
            if not expr.name:
                raise InvalidExpression(owner, "a variable has no name")
            deps = names_of(expr) | var_deps(expr, scope, chain, before, owner)
            if owner is not None:
                deps.add(owner)  # evaluated per instance of its item
            key = f"%{expr.name}@{scope}"
            nodes[key] = Node(key, "variable", owner, frozenset(deps), expr.reads_everything, expr)
            before.append(expr.name)

    add_variables(None, q.variables, [])
    for item in q.walk():
        chain = [item.link_id, *reversed(q.ancestors(item.link_id))]
        add_variables(item.link_id, item.variables, chain)
        deps: set[str] = set()
        parent = q.parent_of.get(item.link_id)
        if parent is not None:
            deps.add(parent)
        ew = {e.question for e in item.enable_when}
        deps |= ew
        whole = False
        for expr in (item.enable_when_expression, item.calculated_expression):
            if expr is None:
                continue
            deps |= names_of(expr) | var_deps(expr, item.link_id, chain, [v.name for v in item.variables if v.name], item.link_id)
            whole = whole or expr.reads_everything
        if item.calculated_expression is None and item.scoring is not None:
            deps |= _scored_questions(q, item)
        if item.initial_expression is not None:
            var_deps(item.initial_expression, item.link_id, chain, [v.name for v in item.variables if v.name], item.link_id)
        nodes[item.link_id] = Node(item.link_id, "item", item.link_id, frozenset(deps), whole, None, frozenset(ew))
    order = _topological(nodes, q)
    return Plan(order, nodes, resolved, launch)


def _resolve(name: str, chain: list[str], before: list[str], q) -> str | None:
    """What %name means here: the scope's own (earlier) variables, then its ancestors', then the form's.

    chain: the scope's item and its ancestors, innermost first ([] for the form's own variables).
    """
    if name in before:
        return f"%{name}@{chain[0] if chain else ROOT}"
    for lid in chain[1:]:
        if any(v.name == name for v in q.by_link_id[lid].variables):
            return f"%{name}@{lid}"
    if chain and any(v.name == name for v in q.variables):
        return f"%{name}@{ROOT}"
    return None


def _descendants(q) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}

    def go(item) -> set[str]:
        below: set[str] = set()
        for c in item.items:
            below.add(c.link_id)
            below |= go(c)
        out[item.link_id] = below
        return below

    for it in q.items:
        go(it)
    return out


def _scored_questions(q, item) -> set[str]:
    """The questions a Helsenorge QS/SS/TS item adds up: its parent's (QS, SS) or all (TS)."""
    if item.scoring == "TS":
        pool = q.walk()
    else:
        parent = q.parent_of.get(item.link_id)
        pool = _subtree(q.by_link_id[parent]) if parent is not None else q.walk()
    return {i.link_id for i in pool if i.is_scored_choice and i.link_id != item.link_id}


def _subtree(item) -> list:
    out = [item]
    for c in item.items:
        out.extend(_subtree(c))
    return out


def _topological(nodes: dict[str, Node], q) -> tuple[Node, ...]:
    # Document order among independent nodes keeps the walk predictable; Kahn's algorithm.
    position = {k: n for n, k in enumerate(nodes)}
    indegree = {k: len(n.deps & nodes.keys()) for k, n in nodes.items()}
    users: dict[str, list[str]] = {k: [] for k in nodes}
    for k, n in nodes.items():
        for d in n.deps:
            if d in users:
                users[d].append(k)
    ready = sorted((k for k, d in indegree.items() if d == 0), key=position.__getitem__)
    out: list[Node] = []
    import heapq

    heap = [(position[k], k) for k in ready]
    heapq.heapify(heap)
    while heap:
        _, k = heapq.heappop(heap)
        out.append(nodes[k])
        for u in users[k]:
            indegree[u] -= 1
            if indegree[u] == 0:
                heapq.heappush(heap, (position[u], u))
    if len(out) < len(nodes):
        _raise_cycle({k for k, d in indegree.items() if d > 0}, nodes)
    return tuple(out)


def _raise_cycle(left: set[str], nodes: dict[str, Node]) -> None:
    # Walk back along dependencies inside what is left until a node repeats: that is a cycle.
    start = min(left)
    path: list[str] = []
    seen: dict[str, int] = {}
    k = start
    while k not in seen:
        seen[k] = len(path)
        path.append(k)
        k = next(d for d in sorted(nodes[k].deps) if d in left)
    cycle = path[seen[k]:] + [k]
    items = [c for c in cycle if not c.startswith("%")]
    named = items[0] if items else None
    through_enable_when = any(cycle[i + 1] in nodes[cycle[i]].ew_deps for i in range(len(cycle) - 1))
    text = " → ".join(reversed(cycle))
    if through_enable_when:
        raise EnableWhenCycle(named, f"enableWhen goes round in a circle ({text}): no item on it can ever be shown")
    raise InvalidExpression(named, f"calculations depend on each other in a circle ({text})")
