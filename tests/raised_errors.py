"""The errors a function can raise, read from its code and the code it calls (a static over-approximation).

From a function, every name or attribute chain in its body that resolves (through the function's module
globals, or `self`/`cls` in a method) to another function or class of the platform is followed, and every
error class of the platform raised there is collected, with those built by a helper whose result is raised
(`raise _refusal(...)`). Calls through values whose type is only known at run time (`platform.keys.signer()`)
are not followed: what they raise belongs to the protocol or the platform, listed once (essc.web.openapi).
"""

from __future__ import annotations

import ast
import functools
import inspect
import textwrap
import types
from collections.abc import Callable, Iterator
from typing import Any

from essc.kit.errors import EsscError

ROOTS = ("essc.",)


def _ours(obj: object) -> bool:
    module = getattr(obj, "__module__", None) or ""
    return module.startswith(ROOTS)


def _unwrap(obj: object) -> Callable[..., Any] | None:
    if isinstance(obj, staticmethod | classmethod):
        obj = obj.__func__
    if isinstance(obj, functools.partial):
        obj = obj.func
    if isinstance(obj, types.MethodType):
        obj = obj.__func__
    if isinstance(obj, types.FunctionType):
        return obj
    call = vars(type(obj)).get("__call__")
    if not isinstance(obj, type) and isinstance(call, types.FunctionType):
        return call  # an instance used as a function (a FastAPI dependency object)
    return None


def _owner(function: types.FunctionType) -> type | None:
    """The class a method was defined in, when it can be found from its qualified name."""
    parts = function.__qualname__.split(".")
    if len(parts) < 2 or "<locals>" in parts:
        return None
    found: Any = inspect.getmodule(function)
    for part in parts[:-1]:
        found = getattr(found, part, None)
    return found if isinstance(found, type) else None


def _resolve(node: ast.expr, scope: dict[str, Any]) -> object | None:
    """The object a name or attribute chain stands for in the function's module, or None."""
    if isinstance(node, ast.Name):
        return scope.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _resolve(node.value, scope)
        if isinstance(base, types.ModuleType):
            return getattr(base, node.attr, None)
        if isinstance(base, type):
            return inspect.getattr_static(base, node.attr, None)
    return None


def _is_error(obj: object) -> bool:
    return isinstance(obj, type) and issubclass(obj, EsscError)


def _source(function: types.FunctionType) -> ast.AST | None:
    try:
        return ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        return None


def _methods(cls: type) -> Iterator[object]:
    for name, value in vars(cls).items():
        if name == "__init__" or not name.startswith("__"):
            yield value


def _assigned_calls(tree: ast.AST) -> dict[str, list[ast.expr]]:
    """What each local name was assigned from, when that was a call: `refusal = why_not(...)`."""
    found: dict[str, list[ast.expr]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found.setdefault(target.id, []).append(node.value.func)
        elif isinstance(node, ast.NamedExpr) and isinstance(node.value, ast.Call):
            found.setdefault(node.target.id, []).append(node.value.func)
    return found


_BROAD = {"Exception", "BaseException"}
# A class is followed where it is built (not where it is only named, as in isinstance): what building runs.
_CONSTRUCTION = ("__init__", "__post_init__", "__new__")


def _shielded(tree: ast.AST) -> set[int]:
    """Nodes inside a `try` whose handler takes every exception and does not raise again: nothing escapes."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try):
            continue
        for handler in node.handlers:
            broad = handler.type is None or (isinstance(handler.type, ast.Name) and handler.type.id in _BROAD)
            reraises = any(isinstance(inner, ast.Raise) for inner in ast.walk(handler))
            if broad and not reraises:
                found.update(id(inner) for part in node.body for inner in ast.walk(part))
    return found


def _scope(function: types.FunctionType) -> dict[str, Any]:
    scope: dict[str, Any] = dict(function.__globals__)
    for name, cell in zip(function.__code__.co_freevars, function.__closure__ or (), strict=True):
        try:
            scope[name] = cell.cell_contents
        except ValueError:
            continue
    owner = _owner(function)
    if owner is not None:
        scope.setdefault("self", owner)
        scope.setdefault("cls", owner)
    return scope


def _raised(
    target: ast.expr, scope: dict[str, Any], assigned: dict[str, list[ast.expr]], errors: set[type[EsscError]]
) -> list[tuple[object, bool]]:
    """Collect the error classes an expression that is raised stands for; return the builders to follow."""
    if isinstance(target, ast.Call):
        target = target.func
    local = isinstance(target, ast.Name) and target.id not in scope
    builders: list[tuple[object, bool]] = []
    for candidate in assigned.get(target.id, []) if isinstance(target, ast.Name) and local else [target]:
        found = _resolve(candidate, scope)
        if _is_error(found):
            errors.add(found)  # type: ignore[arg-type]
        elif found is not None:
            builders.append((found, True))
    return builders


def raised_by(*starts: object) -> frozenset[type[EsscError]]:
    """Every platform error class the given functions (and what they call, transitively) can raise.

    An error counts where it is raised, or built by a function whose result is raised (a builder such as
    `_refusal(...)`, or a local name assigned from one); an error built and only compared is not raised.
    """
    seen: set[tuple[object, bool]] = set()
    errors: set[type[EsscError]] = set()
    pending: list[tuple[object, bool]] = [(start, False) for start in starts]
    while pending:
        item, builder = pending.pop()
        if isinstance(item, type) and not _is_error(item):
            if _ours(item) and (item, builder) not in seen:
                seen.add((item, builder))
                pending.extend((method, builder) for method in _methods(item))
            continue
        function = _unwrap(item)
        if function is None or (function, builder) in seen or not _ours(function):
            continue
        seen.add((function, builder))
        tree = _source(function)  # type: ignore[arg-type]
        if tree is None:
            continue
        scope = _scope(function)  # type: ignore[arg-type]
        assigned = _assigned_calls(tree)
        shielded = _shielded(tree)
        called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}

        for node in ast.walk(tree):
            if id(node) in shielded:
                continue
            if isinstance(node, ast.Raise) and node.exc is not None:
                pending.extend(_raised(node.exc, scope, assigned, errors))
            elif builder and isinstance(node, ast.Return) and node.value is not None:
                for part in ast.walk(node.value):
                    if isinstance(part, ast.Call | ast.Name):
                        pending.extend(_raised(part, scope, assigned, errors))
            elif isinstance(node, ast.Name | ast.Attribute) and isinstance(node.ctx, ast.Load):
                found = _resolve(node, scope)
                if isinstance(found, type):
                    if id(node) in called and not _is_error(found):
                        pending.extend(
                            (vars(found)[name], False) for name in _CONSTRUCTION if name in vars(found)
                        )
                elif found is not None and not isinstance(found, types.ModuleType):
                    pending.append((found, False))
    return frozenset(errors)
