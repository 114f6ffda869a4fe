"""Normal forms of names, e-mail addresses and phone numbers, for finding duplicates.

Two spellings of one company ("ＡＣＭＥ Trading Co., Ltd." and "Acme Trading";
"华为技术有限公司" and "华为技术") or of one phone number ("138 1234 5678" and
"+86-138-1234-5678") must meet in one stored value, so that duplicate
detection is an indexed equality rather than a fuzzy scan. The stored forms
are for matching only; what the user typed is kept beside them for display.
"""

from __future__ import annotations

import re
import unicodedata

from core.errors import ValidationFailed

# Legal forms at the end of a company name; dropped, with "the" in front.
LATIN_LEGAL_FORMS = frozenset(
    {
        "ltd",
        "limited",
        "co",
        "company",
        "corp",
        "corporation",
        "inc",
        "incorporated",
        "llc",
        "llp",
        "lp",
        "plc",
        "gmbh",
        "ag",
        "sa",
        "sarl",
        "srl",
        "spa",
        "bv",
        "nv",
        "pty",
        "pte",
    }
)
# Longest first: "股份有限公司" must go whole, not leave "股份" behind.
CJK_LEGAL_FORMS = ("股份有限公司", "有限责任公司", "有限公司", "公司")

# Addresses at these domains belong to people, not to one organisation: sharing
# the domain says nothing about two parties being the same.
FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "yahoo.com",
        "yahoo.com.cn",
        "ymail.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "gmx.com",
        "gmx.de",
        "web.de",
        "mail.com",
        "yandex.com",
        "yandex.ru",
        "zoho.com",
        "qq.com",
        "vip.qq.com",
        "foxmail.com",
        "163.com",
        "126.com",
        "yeah.net",
        "vip.163.com",
        "188.com",
        "sina.com",
        "sina.cn",
        "vip.sina.com",
        "sohu.com",
        "139.com",
        "189.cn",
        "wo.cn",
        "aliyun.com",
    }
)

# A workspace's language implies where its phone numbers are dialled from when
# typed without a country code: (country calling code, longest national number).
LOCAL_DIALLING = {"zh-CN": ("86", 11)}

_DROPPED = re.compile(r"[.'’`]")  # "L.L.C." is "llc", "McDonald's" is "mcdonalds"
_SEPARATORS = re.compile(r"[^\w]+|_")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_EXTENSION = re.compile(r"(?:ext\.?|x|转|分机|#)", re.IGNORECASE)
MIN_PHONE_DIGITS, MAX_PHONE_DIGITS = 5, 15  # E.164 allows at most 15


def fold(value: str) -> str:
    """Width, compatibility and case folded, blanks collapsed: "ＡＢＣ　Ｌｔｄ" → "abc ltd"."""
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


def normalise_name(name: str) -> str:
    """A party's name as compared for duplicates: folded, punctuation gone, legal form dropped.

    "ＡＣＭＥ Trading Co., Ltd." → "acme trading"; "阿里巴巴（中国）有限公司" →
    "阿里巴巴 中国". A name that is nothing but a legal form is kept as it is.
    """
    words = _SEPARATORS.sub(" ", _DROPPED.sub("", fold(name))).split()
    if len(words) > 1 and words[0] == "the":
        words.pop(0)
    while words:
        last = words[-1]
        if last in LATIN_LEGAL_FORMS or last in CJK_LEGAL_FORMS:
            if len(words) == 1:
                break
            words.pop()
            continue
        suffix = next((s for s in CJK_LEGAL_FORMS if last.endswith(s) and last != s), None)
        if suffix is None:
            break
        words[-1] = last[: -len(suffix)]
    return " ".join(words)


def normalise_email(email: str) -> str:
    """A lower-case address (full-width "＠" and letters folded), or ValidationFailed."""
    value = fold(email)
    if len(value) > 320 or not _EMAIL.match(value):
        raise ValidationFailed("{email} is not an e-mail address.", email=email.strip())
    return value


def email_domain(email: str) -> str:
    """The domain of a normalised address."""
    return email.rpartition("@")[2]


def is_free_mail(domain: str) -> bool:
    return domain in FREE_MAIL_DOMAINS


def normalise_phone(phone: str, locale: str = "en") -> str:
    """A phone number as digits: ``+<country><number>`` where the country is known.

    Full-width digits count; an extension ("ext. 12", "转123") is left out.
    A number typed with ``+`` or ``00`` is international. Otherwise, in a
    workspace whose language implies a country (zh-CN: +86), the national
    number gets that country's code after its trunk ``0`` is dropped
    ("021-6123 4567" → "+862161234567"), unless it is too long to be national
    and already starts with the code ("86 138…"). Elsewhere the digits are kept
    as typed, since the country cannot be known.
    """
    number = _EXTENSION.split(unicodedata.normalize("NFKC", phone), maxsplit=1)[0].strip()
    digits = re.sub(r"\D", "", number)
    international = _international(number, digits, locale)
    significant = international if international is not None else digits
    if not MIN_PHONE_DIGITS <= len(significant) <= MAX_PHONE_DIGITS:
        raise ValidationFailed("{phone} is not a phone number.", phone=phone.strip())
    return f"+{international}" if international is not None else digits


def _international(number: str, digits: str, locale: str) -> str | None:
    """The number with its country code (no "+"), or None when the country is unknown."""
    if number.startswith("+"):
        return digits
    if digits.startswith("00"):
        return digits[2:]
    if locale not in LOCAL_DIALLING:
        return None
    code, longest = LOCAL_DIALLING[locale]
    national = digits[1:] if digits.startswith("0") else digits
    if len(national) > longest and digits.startswith(code):
        return digits
    return f"{code}{national}"
