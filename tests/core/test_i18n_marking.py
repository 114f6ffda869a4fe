"""Strings shown to users are marked for translation.

``test_i18n`` proves every *marked* string has its Chinese; this file proves nothing shown
to users escapes the marking. Templates: text between tags and the shown attributes
(``title``, ``placeholder``, ``aria-label``, ``alt``, a button input's ``value``) must come
from ``{% trans %}`` or ``_()``. Python: every argument that is a msgid (a domain error's
message, a manifest label, a mail's subject and body: ``core.i18n.MESSAGE_ARGUMENTS``) must
be something the extractor sees: a literal at the call, an ``N_()`` constant, or a message
forwarded from a caller that itself passes a marked one.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from jinja2 import Environment
from jinja2.lexer import TOKEN_BLOCK_BEGIN, TOKEN_BLOCK_END, TOKEN_DATA, TOKEN_NAME

from core.i18n import MESSAGE_ARGUMENTS, _argument, _call_name

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("core", "tenants", "billing", "modules", "web")

# -- templates ------------------------------------------------------------------------------

#: Stands for a Jinja expression or tag: it is never text of its own.
HOLE = "\ue000"
LETTER = re.compile(r"[^\W\d_]")
SHOWN_ATTRIBUTES = {"title", "placeholder", "aria-label", "alt", "aria-description"}
ATTRIBUTE = re.compile(r'([\w:-]+)="([^"]*)"')
#: Words that read the same in every language: the product's name and currency codes.
SAME_IN_EVERY_LANGUAGE = re.compile(r"\bAtrium\b|\b[A-Z]{3}\b|/[\w/.\-\ue000]*")


def product_templates() -> list[Path]:
    return sorted(p for top in PRODUCT for p in (ROOT / top).glob("**/templates/**/*.html"))


def skeleton(source: str, name: str) -> str:
    """The template with every Jinja construct, and the text inside ``{% trans %}``, made a
    hole: what is left is what the template shows without translating."""
    environment = Environment(extensions=["jinja2.ext.i18n"])
    tokens = list(environment.lex(source, name))
    out, translating, index = [], False, 0
    while index < len(tokens):
        _, kind, value = tokens[index]
        if kind == TOKEN_BLOCK_BEGIN:
            tag = next((v for _, k, v in tokens[index + 1 :] if k != "whitespace"), "")
            names_tag = next(k for _, k, _ in tokens[index + 1 :] if k != "whitespace")
            if names_tag == TOKEN_NAME and tag in ("trans", "pluralize"):
                translating = True
            elif names_tag == TOKEN_NAME and tag == "endtrans":
                translating = False
            while tokens[index][1] != TOKEN_BLOCK_END:
                index += 1
            out.append(HOLE)
        elif kind == TOKEN_DATA:
            out.append(HOLE if translating else value)
        elif kind in ("variable_end", "comment_end"):
            out.append(HOLE)
        index += 1
    return "".join(out)


def shows_words(text: str) -> bool:
    return bool(LETTER.search(SAME_IN_EVERY_LANGUAGE.sub("", text.replace(HOLE, " "))))


class UnmarkedText(HTMLParser):
    """Collects text a page would show untranslated, with its line."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str]] = []
        self._inside_code = 0

    def _attributes(self, attributes: dict[str, str | None], tag: str = "") -> None:
        for name, value in attributes.items():
            shown = name in SHOWN_ATTRIBUTES or (
                # An input button shows its value; a <button> shows its content, not its value.
                name == "value"
                and tag in ("input", "")  # "": attributes a template hole cut off their tag
                and attributes.get("type") in ("submit", "button", "reset")
            )
            if shown and value and shows_words(value):
                self.found.append((self.getpos()[0], f'<{tag} {name}="{value}">'))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._inside_code += tag in ("script", "style")
        self._attributes(dict(attrs), tag)

    def handle_endtag(self, tag: str) -> None:
        self._inside_code -= tag in ("script", "style")

    def handle_data(self, data: str) -> None:
        if self._inside_code:
            return
        # A macro that writes attributes (aria-invalid="true") leaves them as bare text.
        self._attributes(dict(ATTRIBUTE.findall(data)))
        if shows_words(ATTRIBUTE.sub("", data)):
            self.found.append((self.getpos()[0], data.strip()))


def unmarked_in_template(path: Path) -> list[str]:
    finder = UnmarkedText()
    finder.feed(skeleton(path.read_text(encoding="utf-8"), str(path)))
    finder.close()
    where = path.relative_to(ROOT)
    return [f"{where}:{line}: {text.replace(HOLE, '…')!r}" for line, text in finder.found]


def test_every_template_marks_the_text_it_shows() -> None:
    templates = product_templates()
    assert len(templates) > 40  # the walk found the product's templates
    unmarked = [problem for path in templates for problem in unmarked_in_template(path)]
    assert not unmarked, "wrap in {% trans %} or _():\n" + "\n".join(unmarked)


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("<p>Hello</p>", True),
        ("<p>{% trans %}Hello{% endtrans %}</p>", False),
        ("<p>{{ _('Hello') }} · {{ count }}</p>", False),
        ('<input placeholder="Name">', True),
        ("<input placeholder=\"{{ _('Name') }}\">", False),
        ('<input type="submit" value="Save">', True),
        ('<input type="hidden" name="next" value="Back">', False),
        ('{% if bad %} title="Wrong"{% endif %}', True),
        ('{% if bad %} aria-invalid="true"{% endif %}', False),
        ("<script>const label = 'Hello';</script>", False),
        ("<a href='/t/{{ slug }}/'>/t/{{ slug }}/</a> <b>CNY</b> Atrium", False),
        ("<p>{% trans n=1 %}One item{% pluralize %}{{ n }} items{% endtrans %}</p>", False),
        ("<p>欢迎</p>", True),
    ],
)
def test_the_template_check_tells_marked_from_unmarked(source: str, found: bool) -> None:
    finder = UnmarkedText()
    finder.feed(skeleton(source, "probe.html"))
    finder.close()
    assert bool(finder.found) is found, finder.found


def variable_gettext_calls(source: str, name: str) -> list[tuple[int, str]]:
    """Each ``_(…)`` / ``gettext(…)`` whose message is not a literal, with its line.

    Jinja's newstyle gettext marks its result safe and %-formats it: given typed text (a
    designed form's name) it would show that text as HTML, and a "%" in it would fail
    the page. A message held in a variable is shown with the ``label`` filter instead."""
    lexed = Environment(extensions=["jinja2.ext.i18n"]).lex(source, name)
    tokens = [token for token in lexed if token[1] != "whitespace"]
    found = []
    for before, call, first in zip(tokens, tokens[1:], tokens[2:], strict=False):
        named = before[1] == TOKEN_NAME and before[2] in ("_", "gettext")
        if named and call[2] == "(" and first[1] != "string":
            found.append((before[0], f"{before[2]}({first[2]}…)"))
    return found


def test_templates_translate_only_literal_messages_with_gettext() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {call}"
        for path in product_templates()
        for line, call in variable_gettext_calls(path.read_text(encoding="utf-8"), str(path))
    ]
    assert not found, "a message in a variable: use `| label`, not _():\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("{{ _('Hello') }}", False),
        ('{{ _("Hi %(name)s", name=user.name | label) }}', False),
        ("{{ statuses[row.status] | label }}", False),
        ("{{ _(kind.label) }}", True),
        ("{{ _('Choose %(kind)s', kind=_(item.kind_label)) }}", True),
        ("{{ gettext(title) }}", True),
    ],
)
def test_the_gettext_check_tells_literal_from_variable(source: str, found: bool) -> None:
    assert bool(variable_gettext_calls(source, "probe.html")) is found


def test_the_label_filter_shows_typed_text_as_typed() -> None:
    from core.plugins.registry import ModuleRegistry
    from web.app import _jinja

    environment = _jinja(ModuleRegistry.load(()))
    typed = "<b>Refund 100%</b>"
    shown = environment.from_string("<p>{{ name | label }} {{ 'Save' | label }}</p>")
    assert shown.render(name=typed) == "<p>&lt;b&gt;Refund 100%&lt;/b&gt; Save</p>"


# -- Python ---------------------------------------------------------------------------------

#: Calls that mark their argument for extraction without being a sink themselves.
MARKERS = {"N_", "gettext_noop", "_", "gettext", "ngettext"}


def product_sources() -> Iterator[tuple[Path, ast.Module]]:
    for top in PRODUCT:
        for path in sorted((ROOT / top).glob("**/*.py")):
            if "migrations" not in path.parts:
                yield path, ast.parse(path.read_text(encoding="utf-8"), str(path))


def _marked_constants(tree: ast.Module) -> tuple[set[str], set[str]]:
    """Names assigned an ``N_()`` message (marked) and names assigned a bare string."""
    marked, bare = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                value = node.value
                if isinstance(value, ast.Call) and _call_name(value) in MARKERS:
                    marked.add(target.id)
                elif isinstance(value, ast.Constant) and isinstance(value.value, str):
                    bare.add(target.id)
    return marked, bare


def _functions(tree: ast.Module) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def message_sinks() -> dict[str, tuple[tuple[int, str], ...]]:
    """MESSAGE_ARGUMENTS plus every product function that forwards one of its parameters
    to a sink (``_bounded(value, limit, message)`` raising ``ValidationFailed(message)``),
    found until nothing new turns up."""
    sinks = dict(MESSAGE_ARGUMENTS)
    trees = [tree for _, tree in product_sources()]
    grew = True
    while grew:
        grew = False
        for tree in trees:
            for function in _functions(tree):
                if function.name in sinks:
                    continue
                parameters = [a.arg for a in (*function.args.posonlyargs, *function.args.args)]
                forwarded = [
                    (position, parameter)
                    for call in ast.walk(function)
                    if isinstance(call, ast.Call) and _call_name(call) in sinks
                    for spot, keyword in sinks[_call_name(call)]  # type: ignore[index]
                    if isinstance(argument := _argument(call, spot, keyword), ast.Name)
                    for position, parameter in enumerate(parameters, start=1)
                    if argument.id == parameter
                ]
                if forwarded:
                    sinks[function.name] = tuple(sorted(set(forwarded)))
                    grew = True
    return sinks


def unmarked_messages() -> list[str]:
    sinks = message_sinks()
    problems = []
    for path, tree in product_sources():
        marked, bare = _marked_constants(tree)
        parameters = {a.arg for f in _functions(tree) for a in (*f.args.posonlyargs, *f.args.args)}
        for call in ast.walk(tree):
            if not isinstance(call, ast.Call) or _call_name(call) not in sinks:
                continue
            for position, keyword in sinks[_call_name(call)]:  # type: ignore[index]
                argument = _argument(call, position, keyword)
                if argument is None or _is_marked(argument, call, marked, bare, parameters):
                    continue
                where = f"{path.relative_to(ROOT)}:{call.lineno}"
                problems.append(f"{where}: {_call_name(call)}({ast.unparse(argument)})")
    return problems


def _is_marked(
    argument: ast.expr, call: ast.Call, marked: set[str], bare: set[str], parameters: set[str]
) -> bool:
    literal = isinstance(argument, ast.Constant) and isinstance(argument.value, str)
    if literal:  # extracted at a MESSAGE_ARGUMENTS call; a forwarder's caller must mark it
        return _call_name(call) in MESSAGE_ARGUMENTS
    if isinstance(argument, ast.Call):
        return _call_name(argument) in MARKERS
    if isinstance(argument, ast.Name):
        return argument.id in marked or (argument.id in parameters and argument.id not in bare)
    # ``error.message``, ``policy.message``: a message some marked call already made.
    return isinstance(argument, ast.Attribute) and argument.attr in ("message", "label")


def test_every_message_handed_to_users_is_marked_in_python() -> None:
    sinks = message_sinks()
    assert len(sinks) > len(MESSAGE_ARGUMENTS)  # forwarders were found (``_bounded`` is one)
    problems = unmarked_messages()
    assert not problems, "pass a literal where it is used, or wrap it in N_():\n" + "\n".join(
        problems
    )


def test_the_python_check_tells_marked_from_unmarked() -> None:
    tree = ast.parse(
        "LATE = N_('Too late.')\n"
        "EARLY = 'Too early.'\n"
        "def check(value, message):\n"
        "    raise ValidationFailed(message, value=value)\n"
        "check(1, 'Not marked.')\n"
        "check(2, N_('Marked.'))\n"
        "ValidationFailed(LATE)\n"
        "ValidationFailed(EARLY)\n"
        "ValidationFailed(f'{value} is bad')\n"
    )
    marked, bare = _marked_constants(tree)
    sinks = {**MESSAGE_ARGUMENTS, "check": ((2, "message"),)}
    verdicts = {
        ast.unparse(call): _is_marked(
            _argument(call, *sinks[name][0]),  # type: ignore[arg-type]
            call,
            marked,
            bare,
            {"message"},
        )
        for call in ast.walk(tree)
        if isinstance(call, ast.Call)
        and (name := _call_name(call)) in ("check", "ValidationFailed")
    }
    assert verdicts == {
        "check(1, 'Not marked.')": False,
        "check(2, N_('Marked.'))": True,
        "ValidationFailed(message, value=value)": True,
        "ValidationFailed(LATE)": True,
        "ValidationFailed(EARLY)": False,
        "ValidationFailed(f'{value} is bad')": False,
    }
