"""An in-memory ``ShadowReader`` and a synthetic data set for the page tests.

The data set has one route per readiness verdict, so every label, colour and
chart series shows up: ``users`` is ready, ``validate`` mismatches (390 of
400, 97.5%), ``checkout`` has candidate errors, ``search`` is too slow and
``orders`` has too little traffic.  ``profile`` mismatches by three causes
that share their first place (``value body/name``) and whose names read alike
on both sides: NFC against NFD, a zero-width space, a typographic apostrophe.
Six hours of per-minute timelines, and noise learned on four routes
(``search`` an HTML token), where ``search`` also has a cause set aside as
unlearned noise (a session-bound CSRF token).  Bodies
include markup, so the pages' escaping is exercised too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

from shadow._model import (
    Answer,
    Comparison,
    Difference,
    Example,
    LearnedNoise,
    Mirrored,
    RouteSummary,
    ShadowRecord,
    SideEffect,
    SignatureSummary,
    TimePoint,
)

T0 = 1_764_000_000.0  # 2025-11-24 16:00 UTC
BUCKETS = 360  # one per minute: six hours
XSS = "<script>alert('pwned')</script>"
SIG_MESSAGE = "9f1c2a7be0d4"
SIG_CONTENT_TYPE = "41d7e09a5c3b"
SIG_CHECKOUT = "c0ffee123456"
SIG_NAME_NFD = "5e11a0d2c9f1"
SIG_NAME_ZWSP = "5e11b7730a2e"
SIG_NAME_QUOTE = "a3b09c4471d8"
NFC, NFD = "Jos\u00e9", "Jose\u0301"


@dataclass
class FakeReader:
    """A ``ShadowReader`` over lists held in memory (tests may change them)."""

    summaries: list[RouteSummary] = field(default_factory=list)
    signature_list: list[SignatureSummary] = field(default_factory=list)
    example_map: dict[str, list[Example]] = field(default_factory=dict)
    timelines: dict[str, list[TimePoint]] = field(default_factory=dict)
    learned: list[LearnedNoise] = field(default_factory=list)
    aside: list[SignatureSummary] = field(default_factory=list)

    def routes(self, since: float | None = None) -> list[RouteSummary]:
        """Every route's summary (the synthetic totals ignore ``since``)."""
        return [replace(s, skips=dict(s.skips)) for s in self.summaries]

    def signatures(
        self, route: str | None = None, since: float | None = None, limit: int = 20
    ) -> list[SignatureSummary]:
        """Signatures by count, optionally of one route and seen since ``since``."""
        found = [
            s
            for s in self.signature_list
            if (route is None or s.route == route) and (since is None or s.last_seen >= since)
        ]
        return sorted(found, key=lambda s: -s.count)[:limit]

    def examples(self, signature: str, limit: int = 5) -> list[Example]:
        """The stored examples of ``signature``."""
        return self.example_map.get(signature, [])[:limit]

    def timeline(
        self, route: str, bucket: float = 60.0, since: float | None = None
    ) -> list[TimePoint]:
        """The route's one-minute buckets (``bucket`` is ignored)."""
        points = self.timelines.get(route, [])
        return [p for p in points if since is None or p.start >= since]

    def noise(self, route: str | None = None) -> list[LearnedNoise]:
        """The learned noise, of one route or all."""
        return [n for n in self.learned if route is None or n.route == route]

    def set_aside(
        self, route: str | None = None, since: float | None = None
    ) -> list[SignatureSummary]:
        """The re-judged and accepted signatures, of one route or all."""
        return [s for s in self.aside if route is None or s.route == route]


def _summary(route: str, compared: int, matched: int, **kw: object) -> RouteSummary:
    s = RouteSummary(route, compared=compared, matched=matched, mismatched=compared - matched)
    for name, value in kw.items():
        setattr(s, name, value)
    return s


def _timeline(compared: int, matched: int, every: int) -> list[TimePoint]:
    """BUCKETS minute buckets adding up to the totals; a mismatch or two in every ``every``-th."""
    missing = compared - matched
    points = []
    for i in range(BUCKETS):
        n = compared * (i + 1) // BUCKETS - compared * i // BUCKETS
        bad = min(n, missing, 1 + (i < 40)) if every and i % every == 0 else 0
        missing -= bad
        points.append(TimePoint(T0 + 60 * i, n, n - bad))
    last = points[-1]  # whatever was not placed yet goes in the last bucket
    points[-1] = TimePoint(last.start, last.compared, last.matched - missing)
    return points


def _answer(status: int, body: object, seconds: float, error: str | None = None) -> Answer:
    text = body if isinstance(body, str) else json.dumps(body)
    headers = (("content-type", "application/json"), ("x-powered-by", "PHP/8.2"))
    return Answer(status, headers, text.encode(), seconds, error)


def _record(
    route: str,
    sig: str,
    i: int,
    control: Answer,
    candidate: Answer,
    noise: tuple[Difference, ...] = (),
) -> ShadowRecord:
    diffs = tuple(d for s in SIGNATURES if s.signature == sig for d in s.differences)
    mirrored = Mirrored(
        route=route,
        request_id=f"req-{sig[:6]}-{i}",
        at=T0 + 300 + 97 * i,
        method="POST",
        path=f"/api/v2/{route}",
        query=f"lang=en&q={XSS}" if i == 0 else "lang=en",
        request_headers=(
            ("host", "shop.example"),
            ("content-type", "application/json"),
            ("user-agent", "curl/8.5"),
        ),
        request_body=json.dumps({"email": f"user{i}@example.com", "note": XSS}).encode(),
        control=control,
        candidate=candidate,
        side_effects=(SideEffect("orders.events", b"order-42", b'{"event":"created","id":42}'),)
        if route == "checkout"
        else (),
    )
    return ShadowRecord(mirrored, Comparison(False, diffs, noise, sig))


SIGNATURES = [
    SignatureSummary(
        "validate",
        SIG_MESSAGE,
        7,
        T0 + 120,
        T0 + 1700,
        (Difference("value", "body/errors/0/message", '"email is invalid"', '"invalid email"'),),
    ),
    SignatureSummary(
        "validate",
        SIG_CONTENT_TYPE,
        3,
        T0 + 400,
        T0 + 1500,
        (
            Difference("header", "header:content-type", "application/json", "text/html"),
            Difference("missing", "body/meta/version", '"1.4"', "(absent)"),
        ),
    ),
    SignatureSummary(
        "checkout",
        SIG_CHECKOUT,
        3,
        T0 + 900,
        T0 + 1600,
        (Difference("status", "status", "201", "500"),),
    ),
    SignatureSummary(
        "profile",
        SIG_NAME_NFD,
        4,
        T0 + 2000,
        T0 + 9000,
        (
            Difference("value", "body/name", f'"{NFC}"', f'"{NFD}"'),
            Difference("missing", "body/email", '"jose@example.com"', "<absent>"),
        ),
    ),
    SignatureSummary(
        "profile",
        SIG_NAME_ZWSP,
        2,
        T0 + 3000,
        T0 + 8000,
        (
            Difference("value", "body/name", '"Ana"', '"Ana\u200b"'),
            Difference("type", "body/age", "41", '"41"'),
        ),
    ),
    SignatureSummary(
        "profile",
        SIG_NAME_QUOTE,
        2,
        T0 + 4000,
        T0 + 7000,
        (
            Difference("value", "body/name", '"O\'Brien"', '"O\u2019Brien"'),
            Difference("value", "body/nick", '"ob"', '"obrien"'),
        ),
    ),
]

PROFILE_NOISE = (Difference("value", "body/generated_at", "1764003000", "1764003001"),)


def _profile(
    name: str, nick: str = "ob", age: object = 41, email: bool = True
) -> dict[str, object]:
    body: dict[str, object] = {"id": 7, "name": name, "nick": nick, "age": age}
    if email:
        body["email"] = "jose@example.com"
    return body | {"generated_at": 1764003000, "tags": ["admin", "beta"]}


def _examples() -> dict[str, list[Example]]:
    ok = {"valid": False, "errors": [{"field": "email", "message": "email is invalid"}]}
    cand = {"valid": False, "errors": [{"field": "email", "message": "invalid email"}]}
    html = f"<html><body>{XSS}</body></html>"

    def profile(sig: str, control: dict[str, object], candidate: dict[str, object]) -> Example:
        stamped = candidate | {"generated_at": 1764003001}
        a, b = _answer(200, control, 0.014), _answer(200, stamped, 0.009)
        return Example(sig, _record("profile", sig, 0, a, b, PROFILE_NOISE))

    return {
        SIG_NAME_NFD: [profile(SIG_NAME_NFD, _profile(NFC), _profile(NFD, email=False))],
        SIG_NAME_ZWSP: [profile(SIG_NAME_ZWSP, _profile("Ana"), _profile("Ana\u200b", age="41"))],
        SIG_NAME_QUOTE: [
            profile(SIG_NAME_QUOTE, _profile("O'Brien"), _profile("O\u2019Brien", nick="obrien"))
        ],
        SIG_MESSAGE: [
            Example(
                SIG_MESSAGE,
                _record(
                    "validate", SIG_MESSAGE, i, _answer(422, ok, 0.011), _answer(422, cand, 0.007)
                ),
            )
            for i in range(2)
        ],
        SIG_CONTENT_TYPE: [
            Example(
                SIG_CONTENT_TYPE,
                _record(
                    "validate",
                    SIG_CONTENT_TYPE,
                    0,
                    _answer(200, {"valid": True, "meta": {"version": "1.4"}}, 0.012),
                    _answer(200, html, 0.006),
                ),
            )
        ],
        SIG_CHECKOUT: [
            Example(
                SIG_CHECKOUT,
                _record(
                    "checkout",
                    SIG_CHECKOUT,
                    0,
                    _answer(201, {"id": 42}, 0.030),
                    _answer(500, "", 0.004, error="KeyError: 'currency'"),
                ),
            )
        ],
    }


def sample_reader() -> FakeReader:
    """The synthetic data set described in the module docstring."""
    summaries = [
        _summary("users", 1200, 1200, noise_only=37, skips={"sampled_out": 4800}),
        _summary("validate", 400, 390, skips={"queue_full": 3, "body_too_large": 1}),
        _summary("checkout", 600, 597, candidate_errors=3, skips={"candidate_error": 0}),
        _summary("search", 924, 900, mismatched=0, unlearned=24),
        _summary("orders", 80, 80, skips={"unsafe_method": 12}),
        _summary("profile", 720, 712, noise_only=180),
    ]
    latencies = {
        "users": (0.012, 0.045, 0.009, 0.031),
        "validate": (0.011, 0.040, 0.007, 0.022),
        "checkout": (0.030, 0.120, 0.021, 0.090),
        "search": (0.020, 0.080, 0.041, 0.260),
        "orders": (0.015, 0.050, 0.012, 0.041),
        "profile": (0.014, 0.052, 0.009, 0.035),
    }
    for s in summaries:
        s.control_p50, s.control_p99, s.candidate_p50, s.candidate_p99 = latencies[s.route]
    every = {"users": 0, "validate": 9, "checkout": 40, "search": 0, "orders": 0, "profile": 45}
    timelines = {
        s.route: _timeline(s.compared - s.unlearned, s.matched, every[s.route]) for s in summaries
    }
    return FakeReader(summaries, list(SIGNATURES), _examples(), timelines, list(NOISE), list(ASIDE))


ASIDE = [
    SignatureSummary(
        "search",
        "7d3e0c1a9b2f",
        24,
        T0 + 300,
        T0 + 20_000,
        (
            Difference(
                "token",
                "body:html/head/meta[name=csrf-token]@content",
                "9f2c51e07a3b4d68c1e0f9a2b7d35e41",
                "41d7e8a09c2b3f56e7d1a0c4b9f26e83",
            ),
        ),
        status="unlearned",
        reason="<hex>",
    )
]


NOISE = [
    LearnedNoise(
        "users", "body/took_ms", "value", T0 + 61, "legacy asked twice", "req-u-3", "12", "15"
    ),
    LearnedNoise(
        "users",
        "body/friends",
        "order",
        T0 + 130,
        "legacy asked twice",
        "req-u-9",
        '["ann","bo","cy"]',
        '["cy","ann","bo"]',
    ),
    LearnedNoise(
        "users",
        "header:expires",
        "header",
        T0 + 61,
        "legacy asked twice",
        "req-u-3",
        "Mon, 24 Nov 2025 16:01:01 GMT",
        "Mon, 24 Nov 2025 16:01:02 GMT",
    ),
    LearnedNoise(
        "search",
        'body:html/body/p after "Generated at"',
        "token",
        T0 + 75,
        "legacy asked twice",
        "req-s-4",
        "2025-11-24T16:01:15.120Z",
        "2025-11-24T16:01:15.348Z",
    ),
    LearnedNoise(
        "validate",
        "body/request_id",
        "value",
        T0 + 200,
        "legacy asked twice",
        "req-v-1",
        '"5b0e…"',
        '"c41a…"',
    ),
    LearnedNoise(
        "profile",
        "body/generated_at",
        "value",
        T0 + 90,
        "legacy asked twice",
        "req-p-2",
        "1764000090",
        "1764000091",
    ),
]
