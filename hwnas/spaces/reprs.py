"""The one form of hwnas's object reprs, `<ClassName fact fact ...>`: what a notebook shows
when an object's name is typed (`<TrainEvaluator space='conv1d' dataset='digits' epochs=2>`,
not `<hwnas.evaluators.train.TrainEvaluator object at 0x7f...>`, nor a dataclass's dump of
a whole table)."""

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")


def facts_repr(facts: Callable[[T], Iterable[str]]) -> Callable[[T], str]:
    """A `__repr__` made of the class name and `facts(self)`, one line. The facts are what
    the object already holds (no file read, no training, no Ray call): typing a name shows it
    at once. Where they cannot be read (an object half made, as a debugger shows one inside
    its `__init__`), the default repr: showing an object never raises."""

    def __repr__(self: T) -> str:
        try:
            shown = [type(self).__name__, *facts(self)]
        except Exception:  # any: a repr must show something
            return object.__repr__(self)
        return f"<{' '.join(shown)}>"

    __repr__.__doc__ = facts.__doc__
    return __repr__


def named(**values: Any) -> list[str]:
    """`name=value` facts (values as `repr` shows them), leaving out those that are None
    (a setting not given, a device not recorded)."""
    return [f"{name}={value!r}" for name, value in values.items() if value is not None]
