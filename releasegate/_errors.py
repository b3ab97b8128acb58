"""The two error types of releasegate: bad input, and a refusal.

Every stage raises `InputError` for a problem the user can fix (a contract, a dataset, a key, an
endpoint). The CLI prints `str(error)` as one line and exits with code 2.

`Refused` is a request the rules turn down (an approval, a promotion, a trust root, serving an
alias, an operating-model step): not bad input, so exit code 1, and it carries every reason, each
a `Reason` (the message text, with a short machine `code`). The CLI prints every refusal the same
way (`flows._cli_common.refused`).
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ._text import printable


class InputError(Exception):
    """Bad input: names the file, the line, the field and the fix."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.field = field
        self.fix = fix
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "")
        parts = [p for p in (where, self.field) if p]
        head = ": ".join(parts)
        text = f"{head}: {self.message}" if head else self.message
        if self.fix:
            text += f" (fix: {self.fix})"
        # One line, whatever the input carried: a field name or value with a newline or an ANSI
        # escape (a YAML key "\n", a file name) is shown escaped, never split or run.
        return printable(text)


class Reason(str):
    """One reason for a refusal: the message text (a `str`), with a short machine `code`
    (`approval`, `promotion`, `operating`, `trust`, `serve`, `endpoint`)."""

    code: str

    def __new__(cls, message: str, code: str) -> Reason:
        obj = super().__new__(cls, message)
        obj.code = code
        return obj

    def __reduce__(self) -> tuple[type[Reason], tuple[str, str]]:  # pickles (Prefect results) keep the code
        return (Reason, (str(self), self.code))


class Refused(Exception):
    """A request the rules refuse (not bad input): every reason, CLI exit code 1.

    `code` names what was refused; a plain-string reason takes it as its own code, a `Reason`
    keeps its own (a refusal that wraps another's reasons keeps where each came from).
    """

    exit_code = 1

    def __init__(self, reasons: Iterable[str], *, code: str = "refused") -> None:
        self.code = code
        self.reasons: list[Reason] = [r if isinstance(r, Reason) else Reason(r, code) for r in reasons]
        super().__init__("; ".join(self.reasons))

    def __reduce__(self) -> tuple[type[Refused], tuple[list[Reason]], dict[str, str]]:
        return (Refused, (self.reasons,), {"code": self.code})
