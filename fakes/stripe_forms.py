"""Stripe's form encoding as its libraries send it: `metadata[order_id]=7`, `expand[0]=x`,
`created[gte]=...`, booleans as `true`/`false`; read into nested values, with Stripe's answers to
unknown or malformed parameters; and its list pages (limit, starting_after, ending_before, created)."""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Protocol, TypeAlias, TypeVar

from fakes.stripe_ledger import StripeFault, missing, no_such
from fakes.stripe_objects import Json

FormValue: TypeAlias = "str | dict[str, FormValue]"
KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
METADATA_KEYS, METADATA_KEY_LENGTH, METADATA_VALUE_LENGTH = 50, 40, 500


def invalid(param: str, message: str, code: str = "parameter_invalid") -> StripeFault:
    return StripeFault(400, message, code=code, param=param)


def parse_form(pairs: list[tuple[str, str]]) -> dict[str, FormValue]:
    """Nested values from the decoded pairs: `a[b][c]=v` is {"a": {"b": {"c": "v"}}}; `a[]` appends."""
    root: dict[str, FormValue] = {}
    for key, value in pairs:
        match = KEY.match(key)
        if match is None:
            raise invalid(key, f"Invalid parameter name: {key}")
        path = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node = root
        for depth, part in enumerate(path):
            name = part or str(len(node))
            if depth == len(path) - 1:
                if isinstance(node.get(name), dict):
                    raise invalid(path[0], f"Invalid hash: {path[0]}")
                node[name] = value
                break
            child = node.setdefault(name, {})
            if not isinstance(child, dict):
                raise invalid(path[0], f"Invalid hash: {path[0]}")
            node = child
    return root


class Params:
    """One request's parameters; `reject_unknown` answers Stripe's 400 parameter_unknown."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs
        self.values = parse_form(pairs)

    def reject_unknown(self, allowed: frozenset[str]) -> None:
        for name in self.values:
            if name not in allowed:
                raise invalid(name, f"Received unknown parameter: {name}", "parameter_unknown")

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self.values.get(name)
        if value is None or value == "":
            if required:
                raise missing(name)
            return None
        if not isinstance(value, str):
            raise invalid(name, f"Invalid string: {name}", "parameter_invalid_string")
        return value

    def integer(self, name: str, *, required: bool = False, minimum: int = 0, maximum: int = 99_999_999) -> int | None:
        value = self.text(name, required=required)
        if value is None:
            return None
        if not re.fullmatch(r"-?\d{1,12}", value):
            raise invalid(name, f"Invalid integer: {value}", "parameter_invalid_integer")
        number = int(value)
        if number < minimum:
            raise invalid(name, f"This value must be greater than or equal to {minimum}.",
                          "parameter_invalid_integer")
        if number > maximum:
            raise invalid(name, f"This value must be less than or equal to {maximum}.", "parameter_invalid_integer")
        return number

    def boolean(self, name: str) -> bool | None:
        value = self.text(name)
        if value is None:
            return None
        if value not in ("true", "false"):
            raise invalid(name, f"Invalid boolean: {value}", "parameter_invalid_boolean")
        return value == "true"

    def mapping(self, name: str) -> dict[str, FormValue]:
        value = self.values.get(name, {})
        if value == "":
            return {}  # `metadata=` empties it, as Stripe allows
        if not isinstance(value, dict):
            raise invalid(name, f"Invalid object: {name}", "parameter_invalid_object")
        return value

    def metadata(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for key, value in self.mapping("metadata").items():
            if not isinstance(value, str):
                raise invalid(f"metadata[{key}]", "Metadata values must be strings.")
            if len(key) > METADATA_KEY_LENGTH or len(value) > METADATA_VALUE_LENGTH:
                raise invalid(f"metadata[{key}]", "Metadata keys must be at most 40 characters and values at "
                              "most 500 characters.")
            if value:
                found[key] = value
        if len(found) > METADATA_KEYS:
            raise invalid("metadata", "You can specify up to 50 metadata keys.")
        return found

    def created_filter(self) -> tuple[int | None, int | None]:
        """`created=t` or `created[gte|gt|lte|lt]=t` as an inclusive (low, high) range."""
        value = self.values.get("created")
        if value is None:
            return None, None
        if isinstance(value, str):
            exact = self.integer("created", maximum=2**40)
            return exact, exact
        low = high = None
        for op, raw in value.items():
            if not isinstance(raw, str) or not re.fullmatch(r"\d{1,12}", raw) or op not in ("gte", "gt", "lte", "lt"):
                raise invalid(f"created[{op}]", f"Invalid created filter: created[{op}]")
            number = int(raw)
            if op in ("gte", "gt"):
                low = number + (op == "gt")
            else:
                high = number - (op == "lt")
        return low, high


class Listable(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def created(self) -> int: ...

    def to_json(self) -> Json: ...


L = TypeVar("L", bound=Listable)


def page(items: Sequence[L], params: Params, url: str, kind: str, render: Callable[[L], Json] | None = None) -> Json:
    """One page of a list, newest first, as Stripe pages it (limit, starting_after, ending_before)."""
    low, high = params.created_filter()
    chosen = [item for item in items if (low is None or item.created >= low) and (high is None or item.created <= high)]
    limit = params.integer("limit", minimum=1, maximum=100) or 10
    after, before = params.text("starting_after"), params.text("ending_before")
    ids = [item.id for item in chosen]
    start, end = 0, len(chosen)
    for cursor, name in ((after, "starting_after"), (before, "ending_before")):
        if cursor is not None and cursor not in ids:
            raise no_such(kind, cursor, name)
    if after is not None:
        start = ids.index(after) + 1
        end = min(start + limit, len(chosen))
        has_more = end < len(chosen)
    elif before is not None:
        end = ids.index(before)
        start = max(0, end - limit)
        has_more = start > 0
    else:
        end = min(limit, len(chosen))
        has_more = end < len(chosen)
    shown = [render(item) if render else item.to_json() for item in chosen[start:end]]
    return {"object": "list", "data": shown, "has_more": has_more, "url": url}
