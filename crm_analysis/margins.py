"""Money and margins of repair orders: gross profit, cost to serve and net value.

The leaf module of the package's money rules (DOMAIN.md section 3), used by
:mod:`~crm_analysis.features`, :mod:`~crm_analysis.value`,
:mod:`~crm_analysis.economics` and :mod:`~crm_analysis.churn`:

- :class:`Margins` — gross margins by component (labour, parts, other) and payer, used when
  an export has no cost columns;
- :func:`order_profit` — gross profit per order from ``labor_cost``/``parts_cost`` when
  present, otherwise from :class:`Margins`; cost to serve (a fixed handling cost per order,
  :data:`DEFAULT_COST_PER_ORDER`) and net value. Written with narwhals: pandas or Polars
  in, the same kind out.

Example
-------
>>> import pandas as pd
>>> o = pd.DataFrame({"payer": ["customer", "warranty"], "labor_amount": [100.0, 100.0],
...                   "parts_amount": [200.0, 200.0], "other_amount": [0.0, 0.0]})
>>> order_profit(o)[["gross_profit", "net_value"]].round(2).to_numpy().tolist()
[[125.0, 65.0], [64.0, 4.0]]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import narwhals as nw
from narwhals.typing import IntoFrameT

from crm_analysis._inputs import caller, check_number, require_columns

__all__ = ["COMPONENTS", "DEFAULT_COST_PER_ORDER", "Margins", "order_profit"]

#: Revenue components of an order: (component name, amount column, cost column or None).
COMPONENTS: tuple[tuple[str, str, str | None], ...] = (
    ("labor", "labor_amount", "labor_cost"),
    ("parts", "parts_amount", "parts_cost"),
    ("other", "other_amount", None),
)

#: Handling cost of one order in RMB (reception, wash, follow-up call): DOMAIN.md §3.
DEFAULT_COST_PER_ORDER = 60.0


def _frozen(d: Mapping[str, Mapping[str, float]]) -> Mapping[str, Mapping[str, float]]:
    return MappingProxyType({k: MappingProxyType(dict(v)) for k, v in d.items()})


@dataclass(frozen=True)
class Margins:
    """Gross margin by revenue component, with overrides by payer.

    Used only where an order has no cost for a component: gross profit of the component
    = amount × margin. Defaults are DOMAIN.md section 3 (labour 0.65, parts 0.30, other
    0.20). Warranty work paid by the maker earns less: the maker reimburses labour at a
    contract rate and parts near cost, so ``by_payer["warranty"]`` defaults to labour
    0.40, parts 0.12, other 0.10 (the synthetic generator's warranty margins, which follow
    the same reasoning).

    Parameters
    ----------
    labor, parts, other:
        Margins (0..1) for every payer without an override.
    by_payer:
        ``{payer: {component: margin}}``; components left out use the defaults above.

    Example
    -------
    >>> m = Margins(labor=0.6)
    >>> m.margin("labor", "customer"), m.margin("parts", "warranty")
    (0.6, 0.12)
    """

    labor: float = 0.65
    parts: float = 0.30
    other: float = 0.20
    by_payer: Mapping[str, Mapping[str, float]] = field(
        default_factory=lambda: _frozen({"warranty": {"labor": 0.40, "parts": 0.12,
                                                      "other": 0.10}})
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_payer", _frozen(self.by_payer))
        for payer, comps in {"*": self._base(), **self.by_payer}.items():
            for comp, m in comps.items():
                if comp not in self._base():
                    raise ValueError(
                        f"Margins.by_payer[{payer!r}]: unknown component {comp!r}; "
                        f"use one of {list(self._base())}"
                    )
                if not 0.0 <= float(m) <= 1.0:
                    raise ValueError(
                        f"Margins: margin for {comp!r} (payer {payer!r}) must be within "
                        f"0..1, got {m!r}"
                    )

    def _base(self) -> dict[str, float]:
        return {"labor": float(self.labor), "parts": float(self.parts),
                "other": float(self.other)}

    def margin(self, component: str, payer: str | None = None) -> float:
        """The margin of ``component`` for ``payer`` (defaults when no override)."""
        base = self._base()
        if component not in base:
            raise KeyError(f"{caller()}: unknown component {component!r}; use one of {list(base)}")
        return float(self.by_payer.get(payer, {}).get(component, base[component]))

    def expr(self, component: str) -> nw.Expr:
        """A narwhals expression giving the margin of ``component`` for each row's payer."""
        out = nw.lit(self.margin(component))
        for payer in sorted(self.by_payer):
            m = self.margin(component, payer)
            if m != self.margin(component):
                out = nw.when(nw.col("payer") == payer).then(nw.lit(m)).otherwise(out)
        return out


def order_profit(
    orders: IntoFrameT,
    *,
    margins: Margins | None = None,
    cost_per_order: float = DEFAULT_COST_PER_ORDER,
    use_costs: bool | None = None,
) -> IntoFrameT:
    """Add gross profit, cost to serve and net value to every order.

    For each component (labour, parts, other): gross profit = amount − cost when the
    order carries that cost (``labor_cost``, ``parts_cost``), else amount × the margin of
    the component and the order's payer (:class:`Margins`). A row whose cost is missing
    falls back to the margin for that component only, so partly costed exports still give
    one consistent total. ``other_amount`` never has a cost column and always uses the
    margin.

    Cost to serve is ``cost_per_order`` per order; net value = gross profit − cost to
    serve (DOMAIN.md section 3).

    Parameters
    ----------
    orders:
        Repair orders (pandas or Polars, eager or lazy) with ``labor_amount``,
        ``parts_amount``, ``other_amount`` and, for payer-specific margins, ``payer``.
    margins:
        Margins used where costs are absent; default :class:`Margins()`.
    cost_per_order:
        Handling cost of one order in RMB (default 60).
    use_costs:
        ``None`` (default) uses cost columns when present; ``False`` ignores them (e.g.
        to see what margins alone would say); ``True`` requires them.

    Returns
    -------
    The orders with ``gp_labor``, ``gp_parts``, ``gp_other``, ``gross_profit``,
    ``cost_to_serve`` and ``net_value`` (Float64) appended.

    Example
    -------
    >>> import pandas as pd
    >>> o = pd.DataFrame({"payer": ["customer"], "labor_amount": [100.0],
    ...                   "parts_amount": [200.0], "other_amount": [10.0],
    ...                   "labor_cost": [30.0], "parts_cost": [None]})
    >>> order_profit(o)[["gp_labor", "gp_parts", "gp_other", "net_value"]].to_numpy().tolist()
    [[70.0, 60.0, 2.0, 72.0]]
    """
    m = margins if margins is not None else Margins()
    if not isinstance(m, Margins):
        raise TypeError(f"{caller()}: margins must be a Margins, got {type(margins).__name__}")
    cost_per_order = check_number(cost_per_order, "cost_per_order", minimum=0)
    o = nw.from_native(orders)
    cols = list(o.columns)
    require_columns(o, [a for _, a, _ in COMPONENTS], "orders")
    has_payer = "payer" in cols
    if use_costs is True:  # the cost columns are required
        require_columns(o, [c for _, _, c in COMPONENTS if c], "orders")

    exprs = {}
    for comp, amount, cost in COMPONENTS:
        amt = nw.col(amount).cast(nw.Float64)
        margin = m.expr(comp) if has_payer else nw.lit(m.margin(comp))
        by_margin = amt * margin
        if cost is not None and cost in cols and use_costs is not False:
            gp = nw.when(nw.col(cost).is_null()).then(by_margin).otherwise(
                amt - nw.col(cost).cast(nw.Float64))
        else:
            gp = by_margin
        exprs[f"gp_{comp}"] = gp
    out = o.with_columns(**exprs).with_columns(
        gross_profit=nw.col("gp_labor") + nw.col("gp_parts") + nw.col("gp_other"),
        cost_to_serve=nw.lit(cost_per_order),
    ).with_columns(net_value=nw.col("gross_profit") - nw.col("cost_to_serve"))
    return out.to_native()
