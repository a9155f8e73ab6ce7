"""House rules that import-linter cannot express, checked by `make lint`.

- no import cycles among project modules (module level, not only between sibling packages);
- no private name (`_x`) imported from another project module;
- no project import hidden inside a function in etl/ or contracts/ (they hid cycles);
  etl/cli.py is exempt: it imports each command's job lazily to keep `--help` fast;
- no module in etl/ or contracts/ over 600 lines unless its docstring says why
  ("over 600 lines because ...").

Exit status 1 with one line per finding, 0 when clean.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("etl", "contracts")
PLUGINS = ROOT / "plugins"
MAX_LINES = 600
LAZY_OK = {"etl.cli"}


def _modules() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join(parts), path
    for path in sorted(PLUGINS.rglob("*.py")):
        parts = path.relative_to(PLUGINS).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _top_level_nodes(tree: ast.Module) -> Iterator[ast.stmt]:
    """Module-level statements, including those under `if`/`try` (not TYPE_CHECKING blocks)."""
    for node in tree.body:
        if isinstance(node, ast.If):
            test = ast.unparse(node.test)
            if "TYPE_CHECKING" in test:
                continue
            yield from node.body
            yield from node.orelse
        elif isinstance(node, ast.Try):
            yield from node.body
        else:
            yield node


def main() -> int:
    modules = dict(_modules())
    names = set(modules)
    edges: dict[str, set[str]] = {name: set() for name in names}
    problems: list[str] = []

    def project(target: str) -> str | None:
        while target and target not in names:
            target = target.rpartition(".")[0]
        return target or None

    for module, path in modules.items():
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        is_package = path.name == "__init__.py"
        top = {id(n) for n in _top_level_nodes(tree)}
        typing_only = {
            id(inner)
            for node in tree.body
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for inner in ast.walk(node)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.ImportFrom):
                target = _resolve(module, node, is_package)
                owner = project(target)
                if owner is None:
                    continue
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    if alias.name.startswith("_") and sub not in names and owner != module:
                        problems.append(
                            f"{path.relative_to(ROOT)}:{node.lineno}: imports private name "
                            f"{alias.name} from {target}"
                        )
                targets = [project(f"{target}.{a.name}") or owner for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [t for a in node.names if (t := project(a.name))]
            else:
                continue
            if not targets:
                continue
            if id(node) in top:
                edges[module].update(t for t in targets if t != module)
            elif module not in LAZY_OK and module.split(".")[0] in PACKAGES:
                problems.append(
                    f"{path.relative_to(ROOT)}:{node.lineno}: project import inside a function "
                    f"({', '.join(sorted(set(targets)))}); import it at the top"
                )
        lines = text.count("\n")
        doc = ast.get_docstring(tree) or ""
        if (
            module.split(".")[0] in PACKAGES
            and lines > MAX_LINES
            and "over 600 lines because" not in doc
        ):
            problems.append(
                f"{path.relative_to(ROOT)}: {lines} lines (> {MAX_LINES}); split it by concern"
            )

    problems.extend(_cycles(edges))
    for line in problems:
        print(line)
    if not problems:
        print(f"structure ok: {len(modules)} modules, no cycles, no private imports")
    return 1 if problems else 0


def _cycles(edges: dict[str, set[str]]) -> list[str]:
    """Tarjan's strongly connected components; each one of two or more modules is a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[str] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append("import cycle: " + " -> ".join(sorted(component)))

    sys.setrecursionlimit(10_000)
    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


if __name__ == "__main__":
    sys.exit(main())
