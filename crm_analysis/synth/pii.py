"""Clearly fake personal data for synthetic customers and vehicles.

- Names are drawn from common surnames and given-name characters: realistic, but
  every combination is random.
- Phones are 11 digits starting with ``100``: no Chinese mobile number starts with
  ``10`` (mobile numbers start 13–19), so none can reach a real person.
- Plates start with ``测`` ("test"), which is not a province abbreviation.
- VINs are 17 characters from the VIN alphabet (no I, O, Q) with a valid ISO 3779
  check digit; the world-manufacturer code ``LC9`` marks them as synthetic here.
No national id numbers are ever generated.

Example
-------
>>> import numpy as np
>>> from crm_analysis.synth.pii import fake_phones
>>> fake_phones(np.random.default_rng(0), 2)[0][:3]
'100'
"""

from __future__ import annotations

import numpy as np

SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵"
)
GIVEN = list(
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍建国红亮飞鹏波辉斌宇浩凯健俊帆帅"
    "旭宁欣怡晨阳思源佳琪子涵梓轩雨萱文博志远海燕春梅晓东丹玲婷雪琳颖倩慧莉晶"
)
COMPANY_WORDS = list("星河远航恒通利达宏盛鑫源华宇金泰瑞丰永安德润嘉禾")
COMPANY_KINDS = {
    "company": ["贸易有限公司", "建设工程有限公司", "科技有限公司", "物流有限公司", "食品有限公司"],
    "taxi": ["出租汽车有限公司"],
    "ride_hailing": ["汽车租赁有限公司"],
    "government": ["公务用车服务中心"],
}
ADVISOR_POOL = 10  # advisors per store

_VIN_CHARS = np.array(list("0123456789ABCDEFGHJKLMNPRSTUVWXYZ"))
_VIN_VALUES = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)), "P": 7, "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
_YEAR_CODES = "ABCDEFGHJKLMNPRSTVWXY123456789"  # model-year code cycle starting 2010


def _pick(rng: np.random.Generator, pool: list[str], n: int) -> np.ndarray:
    return np.asarray(pool, dtype=object)[rng.integers(0, len(pool), n)]


def fake_person_names(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` random two- or three-character Chinese names.

    >>> len(fake_person_names(np.random.default_rng(1), 3))
    3
    """
    sur = _pick(rng, SURNAMES, n)
    g1 = _pick(rng, GIVEN, n)
    g2 = _pick(rng, GIVEN, n)
    two = rng.random(n) < 0.35
    return [s + a if t else s + a + b for s, a, b, t in zip(sur, g1, g2, two, strict=True)]


def fake_org_names(rng: np.random.Generator, kinds: list[str], city: str) -> list[str]:
    """Organisation names for fleet customers, one per entry of ``kinds``.

    >>> fake_org_names(np.random.default_rng(0), ["taxi"], "测试市")[0].endswith("公司")
    True
    """
    out = []
    for kind in kinds:
        w = rng.choice(COMPANY_WORDS, 2)
        suffix = COMPANY_KINDS[kind][int(rng.integers(0, len(COMPANY_KINDS[kind])))]
        out.append(f"{city}{w[0]}{w[1]}{suffix}")
    return out


def fake_phones(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` phone numbers with the unallocated prefix ``100`` (see module docstring).

    >>> all(len(p) == 11 for p in fake_phones(np.random.default_rng(0), 5))
    True
    """
    digits = rng.integers(0, 100_000_000, n)
    return [f"100{d:08d}" for d in digits]


def fake_plates(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` plates of the form ``测A·12345`` (测 is no province).

    >>> fake_plates(np.random.default_rng(0), 1)[0][0]
    '测'
    """
    letters = np.array(list("ABCDEFGHJKLMNPQRSTUVWXYZ"))
    body = np.array(list("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"))
    first = letters[rng.integers(0, len(letters), n)]
    rest = body[rng.integers(0, len(body), (n, 5))]
    return ["测" + f + "·" + "".join(r) for f, r in zip(first, rest, strict=True)]


def vin_check_digit(vin: str) -> str:
    """ISO 3779 / North-American check digit (position 9) of a 17-character VIN.

    >>> vin_check_digit("1M8GDM9AXKP042788")
    'X'
    """
    total = sum(_VIN_VALUES[c] * w for c, w in zip(vin, _VIN_WEIGHTS, strict=True))
    r = total % 11
    return "X" if r == 10 else str(r)


def fake_vins(rng: np.random.Generator, model_codes: np.ndarray, model_years: np.ndarray,
              plant_codes: np.ndarray) -> list[str]:
    """Unique synthetic VINs: ``LC9`` + model code + check digit + year + plant + serial.

    The serial is the vehicle's position, so VINs are unique within one call.

    >>> v = fake_vins(np.random.default_rng(0), np.array(["AB12C"]), np.array([2020]),
    ...               np.array(["1"]))
    >>> len(v[0]), v[0][:3]
    (17, 'LC9')
    """
    n = len(model_codes)
    out = []
    serial_base = rng.integers(0, 100_000)
    for i in range(n):
        year = _YEAR_CODES[(int(model_years[i]) - 2010) % len(_YEAR_CODES)]
        serial = f"{(serial_base + i) % 1_000_000:06d}"
        vin = f"LC9{model_codes[i]}0{year}{plant_codes[i]}{serial}"
        vin = vin[:8] + vin_check_digit(vin) + vin[9:]
        out.append(vin)
    return out
