"""engine/frozen.py: @frozen builds the same values as @dataclass(frozen=True), only faster."""

from __future__ import annotations

import dataclasses
from dataclasses import InitVar, dataclass, field

import pytest

from engine.frozen import frozen


def shape(cls):
    @cls
    class Value:
        name: str
        amount: int = 0
        tags: dict = field(default_factory=dict, compare=False)  # (compare=False: hashable)
        note: str | None = None
    return Value


Std, Fast = shape(dataclass(frozen=True)), shape(frozen)


@pytest.mark.parametrize("args, kwargs", [(("a",), {}), (("a", 2), {}), (("a", 2, {"x": 1}, "n"), {}),
                                          (("a",), {"note": "n", "amount": 3}), ((), {"name": "a", "tags": None})])
def test_same_fields_values_and_behaviour(args, kwargs):
    std, fast = Std(*args, **kwargs), Fast(*args, **kwargs)
    assert vars(fast) == vars(std) and list(vars(fast)) == list(vars(std))
    assert repr(fast).replace("Value", "") == repr(std).replace("Value", "")
    assert hash(fast) == hash(Fast(*args, **kwargs)) and fast == Fast(*args, **kwargs)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.amount = 5  # type: ignore[misc]
    assert dataclasses.replace(fast, amount=7).amount == 7


def test_default_factory_gives_every_instance_its_own():
    assert Fast("a").tags is not Fast("a").tags


@pytest.mark.parametrize("args, kwargs", [((), {}), (("a",), {"nope": 1}), (("a", 1, {}, None, 5), {})])
def test_bad_calls_fail_like_the_dataclass(args, kwargs):
    with pytest.raises(TypeError):
        Std(*args, **kwargs)
    with pytest.raises(TypeError):
        Fast(*args, **kwargs)


def test_unsupported_shapes_are_refused():
    with pytest.raises(TypeError):
        @frozen
        class Later:
            a: int = field(init=False, default=0)
    with pytest.raises(TypeError):
        @frozen
        class Post:
            a: int

            def __post_init__(self) -> None: ...
    with pytest.raises(TypeError):
        @frozen
        class Init:
            a: int
            b: InitVar[int] = 0
