"""The pure parts: tokens, the referral cookie's signature, crawler detection, wording, card drawing."""
from __future__ import annotations

import inspect
import io
import time

import pytest
from PIL import Image

from sale.share.card import HEIGHT, WIDTH, CardText, render_card
from sale.share.referral import ReferralSigner, crawler_of, looks_like_token, new_token
from sale.share.wording import card_lead, speed_of

SECRET = b"unit-test-secret-" + b"y" * 32


def test_tokens_are_random_opaque_and_well_formed() -> None:
    tokens = {new_token() for _ in range(20_000)}
    assert len(tokens) == 20_000
    assert all(len(t) == 22 and looks_like_token(t) for t in tokens)  # 128 bits of secrets.token_urlsafe
    for junk in (None, "", "a" * 21, "a" * 23, "a" * 21 + "/", "a" * 21 + ".", "<script>alert(1)</scr"):
        assert not looks_like_token(junk)


def test_cookie_round_trip_and_every_kind_of_tampering() -> None:
    signer, token = ReferralSigner(SECRET), new_token()
    cookie = signer.sign(token)
    assert signer.verify(cookie) == token
    head, issued, mac = cookie.split(".")
    other = new_token()
    assert signer.verify(f"{other}.{issued}.{mac}") is None
    assert signer.verify(f"{head}.{int(issued) - 1}.{mac}") is None
    assert signer.verify(f"{head}.{issued}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}") is None
    assert signer.verify(f"{head}.{issued}.") is None
    assert signer.verify(f"{head}.{issued}") is None
    assert ReferralSigner(b"another secret " * 3).verify(cookie) is None
    assert signer.verify(signer.sign(token, time.time() - 7 * 24 * 3600 - 5)) is None  # older than 7 days
    assert signer.verify(signer.sign(token, time.time() - 6 * 24 * 3600)) == token
    assert signer.verify(signer.sign(token, time.time() + 3600)) is None  # issued in the future
    for junk in (None, "", "x" * 10_000, "....", "é" * 40, f"{token}.-1.{mac}", f"{token}.1e9.{mac}"):
        assert signer.verify(junk) is None


def test_referral_prefers_ref_then_a_valid_cookie() -> None:
    signer, a, b = ReferralSigner(SECRET), new_token(), new_token()
    cookie = signer.sign(a)
    assert signer.referral(b, cookie) == b
    assert signer.referral(None, cookie) == a
    assert signer.referral("not a token", cookie) == a
    assert signer.referral("", cookie) == a
    assert signer.referral(None, "forged") == ""
    assert signer.referral(None, None) == ""
    # The hot purchase path: plain CPU, nothing awaited.
    assert not inspect.iscoroutinefunction(ReferralSigner.referral)


@pytest.mark.parametrize("agent", [
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "Twitterbot/1.0",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "LinkedInBot/1.0", "WhatsApp/2.23.20.0 A",
    "TelegramBot (like TwitterBot)", "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
])
def test_crawlers_are_recognised(agent: str) -> None:
    assert crawler_of(agent) is not None


@pytest.mark.parametrize("agent", [
    "",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile Safari",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:126.0) Gecko/20100101 Firefox/126.0",
])
def test_browsers_are_not_crawlers(agent: str) -> None:
    assert crawler_of(agent) is None


def test_visitor_ids_are_keyed_and_stable() -> None:
    signer = ReferralSigner(SECRET)
    assert signer.visitor("10.0.0.1", None) == signer.visitor("10.0.0.1", None)
    assert signer.visitor("10.0.0.1", None) != signer.visitor("10.0.0.2", None)
    assert signer.visitor("10.0.0.1", None) != signer.visitor("10.0.0.1", "twitterbot")  # unfurls apart
    assert signer.visitor("2001:db8::1", None) == signer.visitor("2001:db8::ffff:1", None)  # one /64
    assert signer.visitor("2001:db8::1", None) != signer.visitor("2001:db8:0:1::1", None)
    assert signer.visitor("::ffff:10.0.0.1", None) == signer.visitor("10.0.0.1", None)
    assert signer.visitor("not an address", None) == signer.visitor("not an address", None)
    assert "10.0.0.1" not in signer.visitor("10.0.0.1", None)
    assert ReferralSigner(b"other " * 8).visitor("10.0.0.1", None) != signer.visitor("10.0.0.1", None)


@pytest.mark.parametrize(("seconds", "phrase"), [
    (-120, "with early access"), (0.4, "in under a second"), (2.46, "in 2.4 seconds"),
    (9.99, "in 9.9 seconds"), (10, "in 10 seconds"), (59.9, "in 59 seconds"), (61, "in 1 minute"),
    (3599, "in 59 minutes"),
    (7200, "in 2 hours"), (5 * 86400, "in 5 days"),
])
def test_speed_wording(seconds: float, phrase: str) -> None:
    assert speed_of(seconds).phrase == phrase


def test_a_long_name_never_hides_got_one() -> None:
    lead = card_lead(speed_of(3), "A" * 200)
    assert lead.endswith("got one in") and len(lead) < 50


@pytest.mark.parametrize("product", [
    "X", "Mi Phone 15 Ultra", "<script>alert(1)</script>" * 8, "W" * 200, "小米手机 14 Pro 限量版",
    "Émoji ⚡ 🎉 edition", "tab\tnew\nline", "a " * 100,
])
def test_cards_of_all_shapes_are_1200x630_pngs(product: str) -> None:
    text = CardText(store="flashsale", product=product, lead=card_lead(speed_of(2.4), None),
                    amount="2.4 seconds", drop_line="Drop of Tue 24 Nov 2026, 12:00 CST", site="shop.example")
    image = Image.open(io.BytesIO(render_card(text)))
    assert image.format == "PNG" and image.size == (WIDTH, HEIGHT) == (1200, 630)


def test_card_digest_follows_the_words() -> None:
    text = CardText("s", "p", "Got one in", "2.4 seconds", "Drop of x", "site")
    assert text.digest() == CardText("s", "p", "Got one in", "2.4 seconds", "Drop of x", "site").digest()
    assert text.digest() != CardText("s", "p", "Ada got one in", "2.4 seconds", "Drop of x", "site").digest()
