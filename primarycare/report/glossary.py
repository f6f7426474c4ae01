"""Glossary links: the first use of each glossary term on a page becomes a MyST ``{term}`` role.

The phrases (English and Chinese) map to the headwords of ``book/glossary.md``; longer phrases come
first so "tight county medical communities" wins over "county medical communities".
"""

from __future__ import annotations

import re

GLOSSARY_PHRASES: tuple[tuple[str, str], ...] = (
    (r"tight(?:, high-quality)? (?:county |district and county )?(?:medical )?communit(?:y|ies)",
     "紧密型县域医共体"),
    (r"county medical sub-centres?", "县域医疗次中心"),
    (r"(?:district and )?county medical (?:and health service )?communit(?:y|ies)", "医共体"),
    (r"tiered care", "分级诊疗"),
    (r"county-internal visit rate", "县域内就诊率"),
    (r"primary-care share of visits", "基层诊疗量占比"),
    (r"first-contact signing", "首诊式签约"),
    (r"first contact at primary care", "基层首诊"),
    (r"family-doctor (?:signing|contract services)", "家庭医生签约"),
    (r"county-hired, township-used", "县聘乡用"),
    (r"(?:district and county )?fund pools?", "资金池"),
    (r"remote (?:[a-zA-Z]+, )*(?:[a-zA-Z]+ and )?[a-zA-Z]+ diagnosis centres?", "远程诊疗中心"),
    (r"strengthening-the-base programme", "强基工程"),
    (r"Sanming reform", "三明医改"),
    (r"township health centres?", "乡镇卫生院"),
    (r"village clinics?", "村卫生室"),
    (r"general practitioners?", "全科医生"),
)
_CJK_TERMS = ("紧密型县域医共体", "县域医疗次中心", "县域内就诊率", "基层诊疗量占比", "家庭医生签约", "首诊式签约",
              "基层首诊", "县聘乡用", "远程诊疗中心", "强基工程", "三明医改", "乡镇卫生院", "村卫生室", "全科医生",
              "分级诊疗", "资金池", "医共体")


def link_glossary(text: str, seen: set[str] | None = None) -> str:
    """Link the first use of each glossary term in MyST ``text`` with a ``{term}`` role.

    ``seen`` (shared across the calls of one page) holds the headwords already linked, so a term is
    linked once per page. Text inside backticks or existing roles is left alone. The case chapter's
    Markdown outputs are rendered as MyST (``nb_render_markdown_format: myst``), so the role resolves.
    """
    seen = set() if seen is None else seen
    pieces = re.split(r"(\{[a-z]+\}`[^`]*`|`[^`]*`)", text)  # keep roles and code spans untouched
    pats = [(re.compile(pat, re.IGNORECASE), head) for pat, head in GLOSSARY_PHRASES]
    pats += [(re.compile(re.escape(t)), t) for t in _CJK_TERMS]
    for i in range(0, len(pieces), 2):
        chunk, slots = pieces[i], []
        for rx, head in pats:
            if head in seen:
                continue
            m = rx.search(chunk)
            if not m:
                continue
            seen.add(head)
            phrase = m.group(0)
            role = f"{{term}}`{phrase}`" if phrase == head else f"{{term}}`{phrase} <{head}>`"
            slots.append(role)
            chunk = chunk[:m.start()] + f"\x00{len(slots) - 1}\x00" + chunk[m.end():]
        for k, role in enumerate(slots):
            chunk = chunk.replace(f"\x00{k}\x00", role)
        pieces[i] = chunk
    return "".join(pieces)

