"""Decoding within bounds: the pixel limit is read from the header, and decoded bytes share one budget."""

from __future__ import annotations

import threading
import time
import warnings
from pathlib import Path

import pytest
from PIL import Image
from pydantic import ValidationError

from perfbudget.config.model import Config
from perfbudget.playbooks.actions.decoding import (
    DecodeBudget,
    Header,
    OverPixelLimit,
    decoded_bytes,
    megapixels,
    open_image,
    over_limit,
    read_header,
)

from .conftest import bomb_png


def test_the_bomb_is_cheap_to_make_and_is_what_the_issue_describes(tmp_path: Path) -> None:
    started = time.perf_counter()
    bomb = bomb_png(tmp_path / "big.png")
    assert time.perf_counter() - started < 2
    assert 100_000 < bomb.stat().st_size < 250_000
    with open_image(bomb) as image:  # with perfbudget's backstop limit, as the actions open it
        assert (image.format, image.size, image.mode) == ("PNG", (13000, 13000), "1")


def test_an_over_limit_image_is_refused_from_its_header_with_its_size(tmp_path: Path) -> None:
    bomb = bomb_png(tmp_path / "big.png")
    with pytest.raises(OverPixelLimit) as refused:
        read_header(bomb, 64_000_000)
    assert str(refused.value) == "13000x13000 = 169 MP is over the 64 MP limit"


def test_reading_a_header_decodes_no_pixel(tmp_path: Path) -> None:
    # Pixel data no decoder accepts: any decode raises, so a header read that succeeds decoded nothing
    # (Pillow's PNG getexif() decodes the whole image when the header has no eXIf chunk).
    broken = bomb_png(tmp_path / "broken.png", valid=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nor does Pillow's own guard warn about a size the limit allows
        header = read_header(broken, 200_000_000)
    assert header == Header("PNG", 13000, 13000, "1", 1, False)
    with Image.open(broken) as image, pytest.raises((OSError, SyntaxError, ValueError)):
        image.load()


def test_a_header_past_pillows_own_guard_is_still_refused_with_a_reason(tmp_path: Path) -> None:
    huge = bomb_png(tmp_path / "huge.png", 50_000, 50_000, noisy_rows=0, valid=False)  # 2.5 GP
    with pytest.raises(OverPixelLimit, match=r"^more than 2000 MP, over the 64 MP limit"):
        read_header(huge, 64_000_000)


@pytest.mark.parametrize(
    ("width", "height", "limit", "reason"),
    [
        (13000, 13000, 64_000_000, "13000x13000 = 169 MP is over the 64 MP limit"),
        (8000, 8000, 64_000_000, None),
        (8001, 8000, 64_000_000, "8001x8000 = 64 MP is over the 64 MP limit"),
        (5000, 2500, 12_000_000, "5000x2500 = 12.5 MP is over the 12 MP limit"),
    ],
)
def test_the_reason_names_the_size_and_the_limit(width: int, height: int, limit: int, reason: str | None) -> None:
    assert over_limit(width, height, limit) == reason


def test_megapixels_are_written_as_people_say_them() -> None:
    assert [megapixels(n) for n in (169_000_000, 64_000_000, 12_500_000, 1_234_567)] == [
        "169 MP",
        "64 MP",
        "12.5 MP",
        "1.2 MP",
    ]


def test_decoded_bytes_count_the_original_its_rgb_copy_and_the_resized_ones() -> None:
    one_bit = Header("PNG", 13000, 13000, "1", 1, False)
    assert decoded_bytes(one_bit) == 169_000_000 * (1 + 4)
    turned_photo = Header("JPEG", 4000, 3000, "RGB", 1, True)
    assert decoded_bytes(turned_photo, [(2000, 1500), (640, 480)]) == 12_000_000 * (4 + 4 + 4) + 4 * (
        2000 * 1500 + 640 * 480
    )


def test_the_limit_and_the_budget_are_configured_with_sane_defaults() -> None:
    actions = Config().actions
    assert actions.max_image_pixels == 64_000_000
    assert actions.decode_memory_bytes == 512 << 20
    assert Config.model_validate({"actions": {"max_image_pixels": 100_000_000}}).actions.max_image_pixels == 100_000_000
    with pytest.raises(ValidationError, match="max_image_pixels"):
        Config.model_validate({"actions": {"max_image_pixels": 2_000_000_000}})
    with pytest.raises(ValidationError, match="decode_memory_bytes"):
        Config.model_validate({"actions": {"decode_memory_bytes": 1000}})


def _holder(budget: DecodeBudget, size: int, limit: int, inside: threading.Event, leave: threading.Event) -> None:
    with budget.hold(size, limit):
        inside.set()
        leave.wait(10)


def test_a_holder_waits_until_its_bytes_fit_in_the_budget() -> None:
    budget = DecodeBudget()
    first_in, first_out, second_in, second_out = (threading.Event() for _ in range(4))
    first = threading.Thread(target=_holder, args=(budget, 60, 100, first_in, first_out))
    second = threading.Thread(target=_holder, args=(budget, 60, 100, second_in, second_out))
    first.start()
    assert first_in.wait(5)
    second.start()
    assert not second_in.wait(0.3), "two holders of 60 bytes in a budget of 100"
    assert budget.held == 60
    first_out.set()
    assert second_in.wait(5)
    second_out.set()
    first.join(5)
    second.join(5)
    assert budget.held == 0


def test_holders_that_fit_together_run_together() -> None:
    budget = DecodeBudget()
    events = [threading.Event() for _ in range(4)]
    threads = [threading.Thread(target=_holder, args=(budget, 40, 100, events[i], events[2 + i])) for i in range(2)]
    for thread in threads:
        thread.start()
    assert events[0].wait(5) and events[1].wait(5)
    assert budget.held == 80
    events[2].set()
    events[3].set()
    for thread in threads:
        thread.join(5)


def test_one_holder_larger_than_the_budget_runs_alone_and_is_never_stuck() -> None:
    budget = DecodeBudget()
    small_in, small_out, big_in, big_out = (threading.Event() for _ in range(4))
    small = threading.Thread(target=_holder, args=(budget, 10, 100, small_in, small_out))
    big = threading.Thread(target=_holder, args=(budget, 500, 100, big_in, big_out))
    small.start()
    assert small_in.wait(5)
    big.start()
    assert not big_in.wait(0.3), "the large holder ran beside another one"
    small_out.set()
    assert big_in.wait(5), "the large holder never ran"
    assert budget.held == 500
    big_out.set()
    small.join(5)
    big.join(5)
    assert budget.held == 0
