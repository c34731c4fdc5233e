"""Pure rules about customers."""

from __future__ import annotations


def format_address(
    line1: str | None,
    line2: str | None,
    city: str | None,
    region: str | None,
    postal_code: str | None,
    country: str | None,
) -> str:
    """The postal address as printed on an invoice, one part a line, empty parts left out.

    >>> format_address("1 High St", None, "London", None, "E1 6AN", "GB")
    '1 High St\\nLondon E1 6AN\\nGB'
    """
    city_line = " ".join(part for part in (city, postal_code) if part)
    return "\n".join(part for part in (line1, line2, city_line, region, country) if part)
