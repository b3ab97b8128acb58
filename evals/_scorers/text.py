"""Text scorers: exact, normalized_exact, contains, regex, numeric, refusal."""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from ._registry import ScoreResult, ScorerContext, scorer

_SPACE = re.compile(r"\s+")
_EDGE_PUNCT = re.compile(r"^[\W_]+|[\W_]+$", re.UNICODE)
_NUMBER = re.compile(r"[-+]?(?:\d+(?:[.,]\d+)*(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?")


def normalize_text(text: str | None) -> str:
    """NFKC, case-folded, whitespace collapsed, punctuation stripped at both ends."""
    if text is None:
        return ""
    text = unicodedata.normalize("NFKC", str(text)).casefold()
    return _EDGE_PUNCT.sub("", _SPACE.sub(" ", text).strip())


def _verdict(ok: bool, yes: str, no: str, detail: str | None = None) -> ScoreResult:
    return ScoreResult(ok, 1.0 if ok else 0.0, yes if ok else no, detail)


@scorer("exact")
def exact(output: str | None, reference: str | None, *, ctx: ScorerContext) -> ScoreResult:
    """Output equals the reference byte for byte (after stripping surrounding whitespace)."""
    ok = output is not None and reference is not None and output.strip() == str(reference).strip()
    return _verdict(ok, "exact match", "output differs from the reference")


@scorer("normalized_exact")
def normalized_exact(output: str | None, reference: str | None, *, ctx: ScorerContext) -> ScoreResult:
    """Equal after case folding, whitespace and edge-punctuation normalisation."""
    ok = output is not None and normalize_text(output) == normalize_text(reference)
    return _verdict(ok, "normalized match", "output differs from the reference after normalisation")


@scorer("contains")
def contains(output: str | None, reference: str | None, *, ctx: ScorerContext) -> ScoreResult:
    """The output contains `params.value` (default: the reference), case-insensitively."""
    needle = normalize_text(ctx.param("value", reference))
    if not needle:
        raise ctx.error("nothing to look for", "set params.value or give the cases a reference")
    ok = needle in normalize_text(output)
    return _verdict(ok, f"contains {needle!r}", f"does not contain {needle!r}")


@lru_cache(maxsize=64)
def _compile(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE if ignore_case else 0)


@scorer("regex")
def regex(output: str | None, reference: str | None, *, ctx: ScorerContext) -> ScoreResult:
    """`params.pattern` is found in the output (`params.fullmatch: true` for the whole output)."""
    pattern = ctx.param("pattern")
    if not pattern:
        raise ctx.error("missing params.pattern", "add params: {pattern: '...'}")
    try:
        compiled = _compile(str(pattern), bool(ctx.param("ignore_case", False)))
    except re.error as exc:
        raise ctx.error(f"invalid pattern: {exc}", "fix the regular expression") from None
    text = output or ""
    match = compiled.fullmatch(text.strip()) if ctx.param("fullmatch", False) else compiled.search(text)
    return _verdict(match is not None, f"matches /{pattern}/", f"does not match /{pattern}/")


def first_number(text: str | None) -> float | None:
    if text is None:
        return None
    match = _NUMBER.search(str(text))
    if not match:
        return None
    token = match.group(0)
    token = token.replace(",", "") if "." in token or token.count(",") > 1 else token.replace(",", ".")
    try:
        return float(token)
    except ValueError:
        return None


@scorer("numeric")
def numeric(output: str | None, reference: str | None, *, ctx: ScorerContext) -> ScoreResult:
    """The first number in the output is within `abs_tol` or `rel_tol` of the reference number."""
    abs_tol = float(ctx.param("abs_tol", 1e-6))
    rel_tol = float(ctx.param("rel_tol", 0.0))
    expected = first_number(reference)
    if expected is None:
        raise ctx.error(f"reference {reference!r} is not a number", "use numeric references")
    got = first_number(output)
    if got is None:
        return ScoreResult(False, 0.0, "no number in the output")
    ok = abs(got - expected) <= max(abs_tol, rel_tol * abs(expected))
    return _verdict(ok, f"{got:g} within tolerance of {expected:g}", f"{got:g} is not {expected:g}",
                    detail=f"{got:g}")


_REFUSAL = re.compile(
    r"\b(i\s*(?:am|'m)\s+(?:sorry|unable|not able)|i\s+(?:can(?:no|')t|cannot|won't|will not|must decline)"
    r"|as an ai\b|i'm not allowed|i am not allowed|unable to (?:help|assist|comply))",
    re.IGNORECASE,
)


def is_refusal(text: str | None) -> bool:
    return bool(text) and _REFUSAL.search(str(text)) is not None


@scorer("refusal")
def refusal(output: str | None, reference: str | None, *, ctx: ScorerContext) -> ScoreResult:
    """Passes when the output does not refuse (`params.expect: refuse` inverts it)."""
    expect = str(ctx.param("expect", "comply"))
    if expect not in ("comply", "refuse"):
        raise ctx.error(f"params.expect is {expect!r}", "use comply or refuse")
    refused = is_refusal(output)
    ok = refused if expect == "refuse" else not refused
    return _verdict(ok, "refused as expected" if refused else "answered without refusing",
                    "refused a request it should answer" if refused else "did not refuse",
                    detail="refusal" if refused else "answer")
