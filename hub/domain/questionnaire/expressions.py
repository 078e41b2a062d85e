"""SDC expressions (FHIRPath through fhirpathpy, always with the R4 model).

Parsed once at import, where a syntax error refuses the form (fhirpathpy's own `parse` ignores
syntax errors, so the parse here listens for them). Evaluation is given the time: `now()` and
`today()` answer the engine's clock, never the machine's. Each expression also records which
items it reads (the linkIds it names), so an answer re-evaluates only what depends on it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.domain.questionnaire.errors import InvalidExpression, UnsupportedFeature

# fhirpathpy and antlr4 are imported with the first expression parsed or evaluated, not with the
# engine: with its R4 model they are ~8 MB of a process that may never open a form with one.
FHIRPATH = "text/fhirpath"
# Names every SDC expression may use without declaring them.
ENVIRONMENT = frozenset({"resource", "context", "questionnaire", "qitem", "patient", "ucum", "sct", "loinc", "rootResource"})

_LINK_LITERAL = re.compile(r"linkId\s*=\s*'((?:[^'\\]|\\.)*)'")
_LINK_ANY = re.compile(r"linkId")
_VARIABLE = re.compile(r"%([A-Za-z_][A-Za-z0-9_]*)")
_STRING = re.compile(r"'(?:[^'\\]|\\.)*'")


@functools.cache
def _raising_listener() -> type:
    from antlr4.error.ErrorListener import ErrorListener

    class _Raise(ErrorListener):
        def syntaxError(self, recognizer, offendingSymbol, line, column, msg, e):  # noqa: N802 (antlr's name)
            raise SyntaxError(f"column {column}: {msg}")

    return _Raise


@functools.cache
def r4_model() -> dict:
    from fhirpathpy.models import models

    return models["r4"]


def parse_fhirpath(text: str) -> dict:
    """The AST of a FHIRPath expression; SyntaxError when it does not parse."""
    from antlr4 import CommonTokenStream, InputStream
    from antlr4.tree.Tree import ParseTreeWalker
    from fhirpathpy.parser.ASTPathListener import ASTPathListener
    from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
    from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

    listener = _raising_listener()()
    lexer = FHIRPathLexer(InputStream(text))
    lexer.removeErrorListeners()
    lexer.addErrorListener(listener)
    parser = FHIRPathParser(CommonTokenStream(lexer))
    parser.buildParseTrees = True
    parser.removeErrorListeners()
    parser.addErrorListener(listener)
    tree = parser.expression()
    if parser.getCurrentToken().type != -1:  # text left over after a whole expression
        raise SyntaxError("unexpected text after the expression")
    ast = ASTPathListener()
    ParseTreeWalker().walk(ast, tree)
    return ast.parentStack[0]


@dataclass(frozen=True)
class Expression:
    expression: str
    name: str | None = None
    language: str = FHIRPATH
    ast: dict = field(default_factory=dict, compare=False, repr=False)
    link_ids: frozenset[str] = frozenset()  # the items it names
    variables: frozenset[str] = frozenset()  # the %variables it reads (not the environment's)
    reads_everything: bool = False  # it reads answers it does not name: re-evaluated on every change


def compile_expression(raw: Any, link_id: str | None, what: str) -> Expression:
    """An SDC Expression (or Helsenorge's plain FHIRPath string) compiled; refused with the item named."""
    if isinstance(raw, str):
        raw = {"language": FHIRPATH, "expression": raw}
    if not isinstance(raw, dict) or not isinstance(raw.get("expression"), str):
        raise InvalidExpression(link_id, f"{what} has no expression text")
    language = raw.get("language", FHIRPATH)
    if language != FHIRPATH:
        raise UnsupportedFeature(link_id, f"{what} is written in {language}; Heima runs FHIRPath only (offline, no server to query)")
    text = raw["expression"]
    try:
        ast = parse_fhirpath(text)
    except Exception as e:  # antlr raises several kinds; all mean the same to the form's author
        raise InvalidExpression(link_id, f"{what} is not valid FHIRPath ({e})") from None
    literals = frozenset(_LINK_LITERAL.findall(text))
    unquoted = _STRING.sub("''", text)
    names = frozenset(_VARIABLE.findall(unquoted)) - ENVIRONMENT
    reads_answers = any(k in unquoted for k in ("%resource", "%context", "%rootResource", "answer", "item"))
    # A linkId used other than as linkId = '...' (!=, in, startsWith) or answers read without
    # naming any item: it may read anything.
    everything = reads_answers and (not literals or len(_LINK_ANY.findall(unquoted)) != len(literals))
    name = raw.get("name") if isinstance(raw.get("name"), str) else None
    return Expression(text, name, language, ast, literals, names, everything)


def response_item(node: dict) -> Any:
    """A QuestionnaireResponse item typed for the R4 model (else `answer.value` reads as empty)."""
    from fhirpathpy.engine.nodes import ResourceNode

    return ResourceNode.create_node(node, "QuestionnaireResponse.item")


def evaluate(expr: Expression, focus: dict, env: dict[str, Any], now: datetime) -> list[Any]:
    """The expression's result list at `focus`; `now()`/`today()` are `now` (the engine's clock)."""
    from fhirpathpy import apply_parsed_path
    from fhirpathpy.engine.invocations.constants import constants
    from fhirpathpy.engine.nodes import FP_DateTime, FP_Time

    constants.reset()
    constants.now = str(FP_DateTime(now.isoformat()))
    constants.today = str(FP_DateTime(now.date().isoformat()))
    constants.timeOfDay = str(FP_Time(now.time().isoformat()))
    # apply_parsed_path resets the constants first; run the evaluation it would, with ours kept.
    reset = constants.reset
    constants.reset = lambda: None  # type: ignore[method-assign]
    try:
        return apply_parsed_path(focus, expr.ast, env, r4_model())
    finally:
        constants.reset = reset  # type: ignore[method-assign]
