"""The arrows between the project's parts, read from the modules' source (their ASTs), so a reader and a tool see
the same thing (docs/architecture.md):

- the domain (bot/services, bot/delivery, bot/graph), cards, storage and vocabulary never reach for the wiring
  (bot.core, bot.app, bot.features), the Teams edge (bot.handler, dialogs) or the SDK (botbuilder, botframework);
  cards import only cards and vocabulary of the project, storage only storage and vocabulary, vocabulary only
  itself;
- each Teams SDK is imported only under its own edge package (bot/edge/agents, bot/edge/botbuilder), so nothing
  else — the bot's router, journeys, features, the desk — depends on which one runs;
- no import cycles among the project's modules;
- every class name in the project is used once.

Each failure names every offender (module and line), so a half-done change shows exactly what is left.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "cards", "storage", "dialogs", "vocabulary")

# Layer rules: (modules under, what they must not import). A name matches itself and everything below it.
WIRING_AND_EDGE = ("bot.core", "bot.handler", "bot.app", "bot.features", "bot.edge", "dialogs", "botbuilder",
                   "botframework", "microsoft_agents")
# Each SDK's packages, and the one edge package that may import them.
SDK_HOMES = {
    "bot.edge.botbuilder": ("botbuilder", "botframework", "msrest", "jsonpickle"),
    "bot.edge.agents": ("microsoft_agents", "microsoft_teams"),
}
NO_WIRING_UNDER = ("bot.services", "bot.delivery", "bot.graph", "cards", "storage", "vocabulary")
# Of the project's packages, these may import only the listed ones (third-party and stdlib imports are not
# restricted here: storage needs sqlalchemy, vocabulary pydantic).
ONLY_PROJECT_IMPORTS = {
    "cards": ("cards", "vocabulary"),
    "storage": ("storage", "vocabulary"),
    "vocabulary": ("vocabulary",),
}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the module imported (the submodule when `from package import submodule`)
    line: int
    top_level: bool  # executed when the module is imported (not inside a function)
    type_checking: bool  # inside an `if TYPE_CHECKING:` block


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _project_files() -> dict[str, Path]:
    files: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            files[_module_name(path)] = path
    return files


FILES = _project_files()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str, path: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"

    def visit(node: ast.AST, top_level: bool, type_checking: bool) -> Iterator[Import]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno, top_level, type_checking)
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, is_package, node)
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                target = submodule if submodule in FILES else source
                yield Import(module, target, node.lineno, top_level, type_checking)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                yield from visit(child, top_level, True)
            for child in node.orelse:
                yield from visit(child, top_level, type_checking)
        else:
            inside_function = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            for child in ast.iter_child_nodes(node):
                yield from visit(child, top_level and not inside_function, type_checking)

    yield from visit(tree, True, False)


IMPORTS = [found for module, path in FILES.items() for found in _imports(module, path)]


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _where(found: Import) -> str:
    return f"{FILES[found.module].relative_to(ROOT)}:{found.line}"


def test_the_domain_cards_storage_and_vocabulary_never_import_the_wiring_the_edge_or_the_sdk() -> None:
    """Every import counts here: at module level, inside functions and under TYPE_CHECKING."""
    offenders = sorted({
        f"{_where(found)} {found.module} imports {found.target}"
        for found in IMPORTS
        if any(_under(found.module, layer) for layer in NO_WIRING_UNDER)
        and any(_under(found.target, forbidden) for forbidden in WIRING_AND_EDGE)})
    assert not offenders, "modules that import the wiring, the edge or botbuilder:\n" + "\n".join(offenders)


def test_each_teams_sdk_is_imported_only_by_its_own_edge_package() -> None:
    offenders = sorted({
        f"{_where(found)} {found.module} imports {found.target}"
        for found in IMPORTS
        for home, packages in SDK_HOMES.items()
        if any(_under(found.target, package) for package in packages) and not _under(found.module, home)})
    assert not offenders, "SDK imports outside their edge package:\n" + "\n".join(offenders)
    # The rule can fail: each edge package does import its SDK.
    for home, packages in SDK_HOMES.items():
        assert any(_under(found.module, home) and any(_under(found.target, p) for p in packages) for found in IMPORTS)


def test_cards_storage_and_vocabulary_import_only_what_lies_below_them() -> None:
    offenders = sorted({
        f"{_where(found)} {found.module} imports {found.target}"
        for found in IMPORTS
        for layer, allowed in ONLY_PROJECT_IMPORTS.items()
        if _under(found.module, layer)
        and any(_under(found.target, package) for package in PACKAGES)
        and not any(_under(found.target, package) for package in allowed)})
    assert not offenders, "imports across the layers:\n" + "\n".join(offenders)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module, or a module that imports itself (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in edges.get(node, ()):
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return found


def test_no_import_cycles_among_the_projects_modules() -> None:
    """The graph has one arrow per module-level import of another project module. Imports inside functions are
    left out (they run later, once everything is loaded). Imports under `if TYPE_CHECKING:` count: they do not
    run, but a type-only arrow back is still a cycle in the design, and hiding it there is what this test is
    meant to stop."""
    edges: dict[str, set[str]] = {}
    lines: dict[tuple[str, str], int] = {}
    for found in IMPORTS:
        if found.top_level and found.target in FILES and found.target != found.module:
            edges.setdefault(found.module, set()).add(found.target)
            lines.setdefault((found.module, found.target), found.line)
    report = []
    for component in _cycles(edges):
        members = set(component)
        arrows = [f"    {FILES[a].relative_to(ROOT)}:{lines[(a, b)]} {a} -> {b}"
                  for a in component for b in sorted(edges.get(a, ())) if b in members]
        report.append("cycle among " + ", ".join(component) + ":\n" + "\n".join(arrows))
    assert not report, "import cycles:\n" + "\n".join(report)


def test_every_class_name_is_used_once() -> None:
    seen: dict[str, list[str]] = {}
    for path in FILES.values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.ClassDef):
                seen.setdefault(node.name, []).append(f"{path.relative_to(ROOT)}:{node.lineno}")
    clashes = sorted(f"{name}: {', '.join(places)}" for name, places in seen.items() if len(places) > 1)
    assert not clashes, "class names used more than once:\n" + "\n".join(clashes)
