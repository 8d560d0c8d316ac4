"""Chinese calendar facts the generator needs: the date of Chinese New Year (春节).

Written by hand because the only input is a short public table; a lunar-calendar
library would be a dependency for 25 dates.

Example
-------
>>> from crm_analysis.synth.calendar import chinese_new_year
>>> str(chinese_new_year(2026))
'2026-02-17'
"""

from __future__ import annotations

import numpy as np

#: First day of the lunar new year, 2008–2035.
CNY_DATES: dict[int, str] = {
    2008: "2008-02-07", 2009: "2009-01-26", 2010: "2010-02-14", 2011: "2011-02-03",
    2012: "2012-01-23", 2013: "2013-02-10", 2014: "2014-01-31", 2015: "2015-02-19",
    2016: "2016-02-08", 2017: "2017-01-28", 2018: "2018-02-16", 2019: "2019-02-05",
    2020: "2020-01-25", 2021: "2021-02-12", 2022: "2022-02-01", 2023: "2023-01-22",
    2024: "2024-02-10", 2025: "2025-01-29", 2026: "2026-02-17", 2027: "2027-02-06",
    2028: "2028-01-26", 2029: "2029-02-13", 2030: "2030-02-03", 2031: "2031-01-23",
    2032: "2032-02-11", 2033: "2033-01-31", 2034: "2034-02-19", 2035: "2035-02-08",
}


def chinese_new_year(year: int) -> np.datetime64:
    """Date of Chinese New Year in ``year`` (2008–2035).

    >>> str(chinese_new_year(2024))
    '2024-02-10'
    """
    try:
        return np.datetime64(CNY_DATES[int(year)], "D")
    except KeyError:
        raise ValueError(
            f"no Chinese New Year date for {year}; the table covers "
            f"{min(CNY_DATES)}–{max(CNY_DATES)}"
        ) from None


def cny_array(first_year: int, last_year: int) -> np.ndarray:
    """All Chinese New Year dates from ``first_year`` to ``last_year`` inclusive.

    >>> cny_array(2025, 2026).astype(str).tolist()
    ['2025-01-29', '2026-02-17']
    """
    return np.array([chinese_new_year(y) for y in range(first_year, last_year + 1)])
