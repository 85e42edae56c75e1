"""Device classes: the beacon's hint, then the client hint, then the User-Agent."""

import pytest

from perfbudget.devices import device_class

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.0 Mobile/15E148 Safari/604.1")
IPAD = ("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.0 Mobile/15E148 Safari/604.1")
PIXEL = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/120.0 Mobile Safari/537.36")
GALAXY_TAB = ("Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/120.0 Safari/537.36")
WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/120.0 Safari/537.36")
HEADLESS = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "HeadlessChrome/156.0.0.0 Safari/537.36")
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


@pytest.mark.parametrize(
    ("hint", "mobile", "ua", "device"),
    [
        ("tablet", "?1", IPHONE, "tablet"),  # the beacon's own hint wins
        (None, "?1", WINDOWS, "phone"),  # then the client hint
        (None, None, IPHONE, "phone"),
        (None, None, PIXEL, "phone"),
        (None, None, IPAD, "tablet"),
        (None, None, GALAXY_TAB, "tablet"),
        (None, "?0", WINDOWS, "desktop"),
        (None, None, HEADLESS, "desktop"),
        (None, None, BOT, "unknown"),
        (None, None, "curl/8.0", "unknown"),
        (None, None, None, "unknown"),
    ],
)
def test_device_class_from_hint_then_client_hint_then_user_agent(
    hint: str | None, mobile: str | None, ua: str | None, device: str
) -> None:
    assert device_class(hint, mobile, ua) == device


KINDLE = ("Mozilla/5.0 (Linux; Android 11; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/118.4 "
          "like Chrome/118.0 Safari/537.36")
MAC = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
       "Safari/605.1.15")
CHROMEBOOK = ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 "
              "Safari/537.36")


def test_the_parser_reads_no_browser_and_classifies_as_the_full_one() -> None:
    """devices.py builds ua-parser without its browser matchers (7 MiB a worker): it must still class every
    User-Agent exactly as the full parser's device and OS families do."""
    import ua_parser
    from ua_parser import Domain

    from perfbudget.devices import _parser

    assert _parser()(IPHONE, Domain.USER_AGENT).user_agent is None  # no browser matchers were built
    assert ua_parser.parse(IPHONE).user_agent is not None
    for ua in (IPHONE, IPAD, PIXEL, GALAXY_TAB, WINDOWS, HEADLESS, BOT, KINDLE, MAC, CHROMEBOOK):
        full, ours = ua_parser.parse(ua), _parser()(ua, Domain.OS | Domain.DEVICE)
        assert (ours.device, ours.os) == (full.device, full.os), ua
