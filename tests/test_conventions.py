"""The house conventions of docs/CONVENTIONS.md, checked on the whole public API.

- every public function or method with an ``as_of`` parameter takes it keyword-only and
  refuses an integer (``20240630``) with a TypeError naming the function;
- the helpers of the input layer are defined once in ``crm_analysis/`` (as-of readers,
  numeric checks, pandas converters, label and money formatters);
- package modules are imported at the top of a module, except the command line's
  documented lazy imports of its subcommands;
- no public function returns a bare tuple or a named tuple (annotations say so).
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import crm_analysis
from crm_analysis.schema import example_dataset

PACKAGE = Path(crm_analysis.__file__).parent


@functools.cache
def _sources() -> tuple[tuple[Path, list[str], ast.Module], ...]:
    """(path, lines, syntax tree) of every module of the package, read once."""
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        out.append((path, text.splitlines(), ast.parse(text)))
    return tuple(out)


def _modules():
    for info in pkgutil.walk_packages(crm_analysis.__path__, "crm_analysis."):
        if info.name.endswith("__main__"):
            continue
        yield importlib.import_module(info.name)


def _public_callables():
    """(qualified name, function) of every public function and public method (and
    ``__init__``) defined in the package."""
    seen = set()
    for mod in _modules():
        for name, obj in vars(mod).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != mod.__name__:
                continue
            if inspect.isfunction(obj):
                items = [(f"{mod.__name__}.{name}", name, obj)]
            elif inspect.isclass(obj):
                items = [(f"{mod.__name__}.{name}.{m}", f"{name}.{m}" if m != "__init__"
                          else name, f)
                         for m, f in vars(obj).items()
                         if inspect.isfunction(f) and (not m.startswith("_") or m == "__init__")]
            else:
                continue
            for qual, short, fn in items:
                if qual not in seen:
                    seen.add(qual)
                    yield qual, short, fn


AS_OF_FUNCTIONS = sorted(
    (qual, short, fn) for qual, short, fn in _public_callables()
    if "as_of" in inspect.signature(fn).parameters
)


def test_the_walk_finds_the_analyses():
    names = {q for q, _, _ in AS_OF_FUNCTIONS}
    for expected in ("crm_analysis.retention.status", "crm_analysis.features.rfm_summary",
                     "crm_analysis.survival.defection_table",
                     "crm_analysis.churn.ChurnModel.fit", "crm_analysis.group.analysis_date"):
        assert expected in names
    assert len(names) >= 30


@pytest.mark.parametrize("qual,short,fn", AS_OF_FUNCTIONS, ids=[q for q, _, _ in AS_OF_FUNCTIONS])
def test_as_of_is_keyword_only(qual, short, fn):
    p = inspect.signature(fn).parameters["as_of"]
    assert p.kind is inspect.Parameter.KEYWORD_ONLY, f"{qual}: as_of is {p.kind.name}"


# Arguments for the parameters before ``as_of`` that have no default, by name. The
# integer as_of must be refused before anything else is looked at closely, so plain
# sample values do.
_DS = example_dataset()
_SAMPLE = {
    "data": _DS, "ds": _DS, "dataset": _DS, "table_or_data": _DS, "source": _DS,
    "orders": _DS.repair_orders, "repair_orders": _DS.repair_orders,
    "vehicles": _DS.vehicles, "customers": _DS.customers, "stores": None,
    "transactions": _DS.repair_orders, "customer_id_col": "customer_id",
    "datetime_col": "open_date", "monetary_value_col": "amount",
    "months": 12, "store_id": "007", "data_dir": _DS, "reports_dir": "reports",
    "out": "out", "path": "out", "store": "007", "self": None,
}


def _call_with_int_as_of(fn, short):
    sig = inspect.signature(fn)
    args, kwargs = [], {"as_of": 20240630}
    target = fn
    if "." in short or inspect.signature(fn).parameters.get("self"):
        cls = getattr(inspect.getmodule(fn), short.split(".")[0])
        if fn.__name__ == "__init__":
            target = cls
        else:
            obj = cls.__new__(cls)
            target = getattr(obj, fn.__name__)
    for name, p in sig.parameters.items():
        if name in ("self", "as_of") or p.default is not inspect.Parameter.empty:
            continue
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        value = _SAMPLE.get(name, _DS)
        if p.kind is p.KEYWORD_ONLY:
            kwargs[name] = value
        else:
            args.append(value)
    return target(*args, **kwargs)


@pytest.mark.parametrize("qual,short,fn", AS_OF_FUNCTIONS, ids=[q for q, _, _ in AS_OF_FUNCTIONS])
def test_integer_as_of_is_a_type_error_naming_the_function(qual, short, fn):
    with pytest.raises(TypeError) as info:
        _call_with_int_as_of(fn, short)
    message = str(info.value)
    assert "as_of" in message, message
    assert message.startswith(short.split(".")[0]) or short.split(".")[-1] in message, message


# ------------------------------------------------------------------------ defined once

#: helper kinds of the issue and the one place each is defined (module: name)
ONE_DEFINITION = {
    "as-of reader": (re.compile(r"^_?(as_of|asof|ts|to_ts|resolve_as_of|read_as_of|"
                                r"parse_as_of|as_of_date)$"), {"_inputs:read_as_of"}),
    "numeric check": (re.compile(r"^_?(check_(int|number|positive|positive_int|threads|"
                                 r"fraction|confidence|probability|non_negative)|positive|"
                                 r"positive_int|positive_number|non_negative|validate_int|"
                                 r"validate_positive)$"),
                      {"_inputs:check_int", "_inputs:check_number",
                       "_inputs:check_confidence"}),
    "pandas converter": (re.compile(r"^_?(to_pandas|as_pandas|frame|pandas|pandas_frame)$"),
                         {"_inputs:to_pandas"}),
    # labels from i18n.t; the sentences of the notebooks from the narration catalogs
    # (docs/CONVENTIONS.md, "text" and "Notebooks")
    "label lookup": (re.compile(r"^_?(tr|t|label_text|text)$"), {"i18n:t", "narrative:text"}),
    "money formatter": (re.compile(r"^_?(money|money_text|money_tick|rmb|fmt_money|"
                                   r"format_money|yuan)$"), {"narrative:rmb"}),
}


@functools.cache
def _definitions() -> tuple[tuple[str, str, int], ...]:
    return tuple(_walk_definitions())


def _walk_definitions():
    for path, _, tree in _sources():
        module = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                yield module, node.name, node.lineno


@pytest.mark.parametrize("kind", sorted(ONE_DEFINITION))
def test_each_shared_helper_is_defined_once(kind):
    pattern, allowed = ONE_DEFINITION[kind]
    found = {f"{m}:{n}" for m, n, _ in _definitions() if pattern.match(n)}
    assert found == allowed, f"{kind}: defined in {sorted(found - allowed)}"


# ------------------------------------------------------------------------ imports

LAZY_MARK = "# lazy: subcommand module (docs/CONVENTIONS.md)"


def test_package_modules_are_imported_at_the_top():
    offenders = []
    for path, lines, tree in _sources():
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.ImportFrom):
                    names = [node.module or ""] if not node.level else ["crm_analysis."]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                else:
                    continue
                if not any(n == "crm_analysis" or n.startswith("crm_analysis.")
                           for n in names):
                    continue
                documented = path.name == "cli.py" and LAZY_MARK in lines[node.lineno - 1]
                if not documented:
                    offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not offenders, offenders


# ------------------------------------------------------------------------ results

def test_no_public_function_returns_a_tuple():
    offenders = []
    for qual, _, fn in _public_callables():
        ret = inspect.signature(fn).return_annotation
        text = ret if isinstance(ret, str) else getattr(ret, "__name__", str(ret))
        # a tuple of one kind of thing (tuple[str, ...]) is a value, not a bundle of results
        if re.match(r"^(tuple|Tuple)\b", str(text)) and not str(text).endswith(", ...]"):
            offenders.append(f"{qual} -> {text}")
    assert not offenders, offenders


def _tuple_returns(node):
    """Line numbers of ``return a, b`` in ``node``'s own body (not in nested functions)."""
    stack = list(ast.iter_child_nodes(node))
    while stack:
        n = stack.pop()
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue
        if isinstance(n, ast.Return) and isinstance(n.value, ast.Tuple):
            yield n.lineno
        stack.extend(ast.iter_child_nodes(n))


def test_no_public_function_returns_a_tuple_literal():
    offenders = []
    for path, _, tree in _sources():
        scopes = [(tree, "")]
        while scopes:
            scope, prefix = scopes.pop()
            for node in ast.iter_child_nodes(scope):
                if node_name := getattr(node, "name", ""):
                    if node_name.startswith("_"):
                        continue
                if isinstance(node, ast.ClassDef):
                    scopes.append((node, f"{prefix}{node.name}."))
                elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    offenders += [f"{path.relative_to(PACKAGE)}:{line} {prefix}{node.name}"
                                  for line in _tuple_returns(node)]
    assert not offenders, offenders
