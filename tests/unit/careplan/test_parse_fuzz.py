"""Any damage to a plan is refused with a PlanError, never a crash (Hypothesis over the JSON)."""

from __future__ import annotations

import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.domain.careplan import PlanError, parse_plan
from tests.unit.careplan.plans import example

EXAMPLES = {name: example(name) for name in ("copd", "heart-failure", "diabetes")}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10_000) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["url", "value", "code", "start", "extension", "repeat", "x"]), inner, max_size=3),
    max_leaves=6,
)


def paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from paths(v, (*prefix, i))


ALL_PATHS = {name: [p for p in paths(doc) if p] for name, doc in EXAMPLES.items()}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(EXAMPLES)), data=st.data(), replacement=json_values, delete=st.booleans())
def test_a_damaged_plan_is_refused_or_read(name, data, replacement, delete):
    doc = copy.deepcopy(EXAMPLES[name])
    path = data.draw(st.sampled_from(ALL_PATHS[name]))
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    try:
        parse_plan(doc)
    except PlanError:
        pass
