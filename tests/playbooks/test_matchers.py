"""Alertmanager matcher semantics: operators, full anchoring, missing labels, quoting, errors."""

from __future__ import annotations

import pytest

from perfbudget.playbooks.matchers import matches_all, parse_matcher

LABELS = {"alertname": "WebVitalsBudgetExceeded", "metric": "LCP", "route": "/cart", "device": "phone"}


@pytest.mark.parametrize(
    ("matcher", "expected"),
    [
        ('metric="LCP"', True),
        ("metric=LCP", True),
        ('metric="lcp"', False),
        ('metric!="LCP"', False),
        ('metric!="INP"', True),
        ('metric=~"LCP|FCP"', True),
        ('metric=~"LC"', False),  # fully anchored: no substring match
        ('metric=~"CP"', False),
        ('metric=~".*CP"', True),
        ('metric!~"LCP|FCP"', False),
        ('metric!~"INP"', True),
        ('metric=~"(?i)lcp"', True),
        ('alertname=~"WebVitals.*"', True),
        ('route=~"/cart|/checkout"', True),
        ('route=~"/c"', False),
        # A label the alert lacks is the empty string, as in Alertmanager.
        ('team=""', True),
        ('team!=""', False),
        ('team=~".*"', True),
        ('team=~".+"', False),
        ('team!~".+"', True),
        ('team="web"', False),
        ('  device  =  "phone"  ', True),
        ('device="ph\\"one"', False),
    ],
)
def test_a_matcher_matches_as_alertmanager_does(matcher: str, expected: bool) -> None:
    assert parse_matcher(matcher).matches(LABELS) is expected


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("metric", 'is not a matcher like name="value", name!="value", name=~"regex" or name!~"regex"'),
        ('1metric="x"', 'is not a matcher like name="value", name!="value", name=~"regex" or name!~"regex"'),
        ('metric=~"("', "regex '(' does not compile: missing ), unterminated subpattern at position 0"),
        ('metric="LCP', "the quoted value has no closing '\"'"),
        ('metric=a"b', "an unquoted value cannot contain '\"'; quote the whole value"),
        ('metric="a"b"', "a '\"' inside a quoted value must be escaped as \\\""),
    ],
)
def test_a_malformed_matcher_says_what_is_wrong(text: str, error: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_matcher(text)
    assert str(caught.value) == error


def test_escapes_in_quoted_values_are_read() -> None:
    matcher = parse_matcher(r'summary="a \"quoted\" word\\n"')
    assert matcher.value == 'a "quoted" word\\n'
    assert parse_matcher(str(matcher)) == matcher


def test_all_matchers_must_match_and_none_matches_nothing() -> None:
    both = [parse_matcher('metric="LCP"'), parse_matcher('device="phone"')]
    assert matches_all(both, LABELS)
    assert not matches_all([*both, parse_matcher('route="/"')], LABELS)
    assert not matches_all([], LABELS)
