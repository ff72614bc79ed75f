"""State machines as tables: a StrEnum of states and a dict of allowed moves."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Generic, TypeVar

from core.errors import IllegalTransition

S = TypeVar("S", bound=StrEnum)


class StateMachine(Generic[S]):
    def __init__(self, name: str, transitions: Mapping[S, frozenset[S]]) -> None:
        self.name = name
        self.transitions = dict(transitions)

    def can(self, current: S, target: S) -> bool:
        return target in self.transitions.get(current, frozenset())

    def ensure(self, current: S | str, target: S) -> None:
        state = type(target)(current)
        if not self.can(state, target):
            raise IllegalTransition(code=f"{self.name}_illegal_transition")
