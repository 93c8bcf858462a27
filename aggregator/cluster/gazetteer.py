"""Stage 5, cluster: one name for places and bodies that Vietnamese and English name apart.

Diacritic folding already makes "Hà Nội" meet "Hanoi" and "Quảng Ninh" meet "Quang
Ninh"; it cannot make "Nhà Trắng" meet "White House", "Nhật Bản" meet "Japan" or
"TP.HCM" meet "Ho Chi Minh City". :func:`canonical_names` maps such names (and English
variants, abbreviations and demonyms) to one English form, which the signature then
carries as if the text had written it.

Only names whose mapping is unambiguous in news copy are listed: "Đức" (Germany, and a
common given name) and "Anh" (Britain, a given name and a pronoun) are not; neither is
"Hồ Chí Minh" alone (the city or the man), nor "WHO" (the question word in a headline).
A one-word name counts only as a whole run of capitalised words: "Nga" is Russia, but
the end of "Nguyễn Thị Nga" is a woman's name. Keys are NFC and case-folded, diacritics kept:
"nha trang" is a city, "nhà trắng" the White House.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import compress
from itertools import count as count_from

__all__ = ["FIRST_WORDS", "MAX_WORDS", "PHRASES", "canonical_names"]

# (the English form, then every other way of writing it), case-folded.
_PLACES: tuple[tuple[str, ...], ...] = (
    # Countries
    ("vietnam", "việt nam", "việt", "vietnamese", "viet nam"),
    ("united states", "mỹ", "hoa kỳ", "us", "usa", "america", "american"),
    ("china", "trung quốc", "chinese"),
    ("japan", "nhật bản", "nhật", "japanese"),
    ("south korea", "hàn quốc", "south korean"),
    ("north korea", "triều tiên", "north korean"),
    ("russia", "nga", "russian"),
    ("france", "pháp", "french"),
    ("united kingdom", "vương quốc anh", "uk", "britain", "great britain", "british"),
    ("italy", "italia", "italian"),
    ("spain", "tây ban nha", "spanish"),
    ("india", "ấn độ", "indian"),
    ("australia", "úc", "australian"),
    ("cambodia", "campuchia", "cambodian"),
    ("laos", "lào", "laotian"),
    ("thailand", "thái lan", "thai"),
    ("singapore", "xinh-ga-po", "singaporean"),
    ("malaysia", "malaysian"),
    ("indonesia", "indonesian"),
    ("philippines", "phi-líp-pin", "philippine", "filipino"),
    ("myanmar", "mi-an-ma"),
    ("canada", "canadian"),
    ("brazil", "braxin", "brazilian"),
    ("ukraine", "ucraina", "ukrainian"),
    ("egypt", "ai cập", "egyptian"),
    ("turkey", "thổ nhĩ kỳ", "türkiye", "turkish"),
    ("netherlands", "hà lan", "dutch"),
    ("switzerland", "thụy sĩ", "swiss"),
    ("sweden", "thụy điển", "swedish"),
    ("norway", "na uy", "norwegian"),
    ("denmark", "đan mạch", "danish"),
    ("poland", "ba lan", "polish"),
    ("greece", "hy lạp", "greek"),
    ("portugal", "bồ đào nha", "portuguese"),
    ("mexico", "mê-hi-cô", "mexican"),
    ("taiwan", "đài loan", "taiwanese"),
    ("hong kong", "hồng kông"),
    ("south africa", "nam phi"),
    ("saudi arabia", "ả rập xê út", "saudi"),
    ("new zealand", "niu di-lân"),
    ("israel", "israeli"),
    ("iran", "iranian"),
    # Cities
    ("ho chi minh city", "tp.hcm", "tphcm", "tp hcm", "hcmc", "thành phố hồ chí minh"),
    ("saigon", "sài gòn"),
    ("beijing", "bắc kinh"),
    ("moscow", "mát-xcơ-va", "moskva"),
    ("london", "luân đôn"),
    ("ha long", "hạ long", "halong"),
)
_BODIES: tuple[tuple[str, ...], ...] = (
    ("white house", "nhà trắng"),
    ("united nations", "liên hợp quốc", "lhq", "un"),
    ("european union", "liên minh châu âu", "eu"),
    ("world bank", "ngân hàng thế giới"),
    ("international monetary fund", "quỹ tiền tệ quốc tế", "imf"),
    ("world health organization", "tổ chức y tế thế giới"),
    ("national assembly", "quốc hội"),
    ("state bank", "ngân hàng nhà nước"),
    ("pentagon", "lầu năm góc"),
    ("kremlin", "điện kremlin"),
)

# Countries and cities are named in every kind of story ("TP.HCM mở bán nhà ở xã hội",
# "Electric motorbike sales in Ho Chi Minh City"): they come out as one word, a name that
# adds to a match but never makes one; a body ("Nhà Trắng") comes out as a run of words,
# which alone can tie two reports together.
PHRASES: dict[tuple[str, ...], str] = {
    **{tuple(v.split()): forms[0].replace(" ", "") for forms in _PLACES for v in forms},
    **{tuple(v.split()): forms[0] for forms in _BODIES for v in forms},
}
MAX_WORDS = max(len(words) for words in PHRASES)
# Vietnamese writes many bodies with only the first syllable capitalised ("Liên hợp quốc",
# "Quốc hội"): those are found among all words, not among capitalised runs. One-word
# variants are looked up only when capitalised ("Mỹ", not "mỹ phẩm", cosmetics).
FIRST_WORDS = frozenset(words[0] for words in PHRASES if len(words) > 1)
# The first two words of every phrase of two or more: most words of FIRST_WORDS ("nam",
# "quốc", "new") start no phrase where they stand, which one lookup of the pair tells.
_FIRST_PAIRS = frozenset(words[:2] for words in PHRASES if len(words) > 1)


def canonical_names(words: Sequence[str], *, capitalised: bool) -> set[str]:
    """The English forms (places joined into one word) of the names in ``words``
    (case-folded, NFC). In a run of ``capitalised`` words every sub-run of two or more
    words counts, and a one-word name when it is the whole run; elsewhere only phrases
    of two or more words do."""
    count = len(words)
    if capitalised and count == 1:
        name = PHRASES.get((words[0],))
        return {name} if name else set()
    found: set[str] = set()
    # Only where a phrase of two or more words may start, found without a Python loop
    # over every word (this runs on every word of every entry).
    for start in compress(count_from(), map(FIRST_WORDS.__contains__, words)):
        if tuple(words[start : start + 2]) not in _FIRST_PAIRS:
            continue
        for end in range(start + 2, min(count, start + MAX_WORDS) + 1):
            name = PHRASES.get(tuple(words[start:end]))
            if name is not None:
                found.add(name)
    return found
