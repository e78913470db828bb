"""The pure figures with answers known by hand: degree days (DMI, base 17 °C), the least-squares fit
and the normalised year, both Danish label scales at and beside their limits, savings to the target
label and the worst 16 % of non-residential buildings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartby.services.energy import labels, retrofit
from smartby.services.energy.degree_days import HOURS_NEEDED, daily_hdd, degree_days
from smartby.services.energy.normalisation import fit

ZONE = "Europe/Copenhagen"


def test_degree_days_by_hand() -> None:
    assert (degree_days(5.0), degree_days(17.0), degree_days(20.0), degree_days(-3.5)) == (
        12.0,
        0.0,
        0.0,
        20.5,
    )
    midnight = datetime(2026, 1, 9, 23, tzinfo=UTC)  # 10 January, local
    hours = [(midnight + timedelta(hours=k), 2.0 if k < 12 else 6.0) for k in range(24)]
    assert daily_hdd(hours, ZONE) == {datetime(2026, 1, 10).date(): 13.0}  # 17 - mean(2, 6)
    too_few = hours[: HOURS_NEEDED - 1]
    assert daily_hdd(too_few, ZONE) == {}
    assert daily_hdd(hours[:HOURS_NEEDED], ZONE) == {
        datetime(2026, 1, 10).date(): 17.0 - (12 * 2 + 6 * 6) / 18
    }


def test_a_fit_with_known_base_and_slope_gives_the_normalised_year_exactly() -> None:
    days = [(float(hdd), 30.0 + 5.0 * hdd) for hdd in (17, 12, 8, 3, 0, 10)]
    found = fit(days)
    assert found is not None
    assert (found.base, found.slope, found.r2, found.days) == (
        pytest.approx(30.0),
        pytest.approx(5.0),
        pytest.approx(1.0),
        6,
    )
    assert found.normalised == pytest.approx(365 * 30.0 + 5.0 * 2906)  # 25,480 kWh


def test_a_poor_fit_shows_in_r2_and_no_slope_without_varying_degree_days() -> None:
    days = [(0.0, 10.0), (10.0, 30.0), (0.0, 30.0), (10.0, 10.0)]
    found = fit(days)
    assert found is not None and found.r2 == pytest.approx(0.0) and found.slope == pytest.approx(0.0)
    assert fit([(5.0, 1.0), (5.0, 2.0)]) is None
    assert fit([(5.0, 1.0)]) is None


@given(
    st.lists(
        st.tuples(st.floats(0, 30, allow_nan=False), st.floats(0, 1000, allow_nan=False)),
        min_size=3,
        max_size=40,
    )
)
def test_the_fit_is_numpys_least_squares(days: list[tuple[float, float]]) -> None:
    found = fit(days)
    hdd = np.array([x for x, _ in days])
    if np.ptp(hdd) < 1e-3:
        return
    slope, base = np.polyfit(hdd, np.array([y for _, y in days]), 1)
    assert found is not None
    assert found.slope == pytest.approx(slope, rel=1e-6, abs=1e-6)
    assert found.base == pytest.approx(base, rel=1e-6, abs=1e-4)


AREA = 800.0  # 1000/A, 1650/A, ... are exact in binary at 800 m2
DWELLING_LIMITS = {
    "A2020": 27.0,
    "A2015": 31.25,
    "A2010": 54.5625,
    "B": 72.75,
    "C": 114.0,
    "D": 155.25,
    "E": 196.5,
    "F": 248.125,
}
OTHER_LIMITS = {
    "A2020": 33.0,
    "A2015": 42.25,
    "A2010": 71.3 + 1650 / AREA,
    "B": 97.75,
    "C": 139.0,
    "D": 180.25,
    "E": 221.5,
    "F": 273.125,
}


@pytest.mark.parametrize(("dwelling", "limits"), [(True, DWELLING_LIMITS), (False, OTHER_LIMITS)])
def test_label_boundaries_exactly_on_and_just_over(dwelling: bool, limits: dict[str, float]) -> None:
    order = list(labels.LABELS)
    for name, limit in limits.items():
        assert labels.limit(name, AREA, dwelling) == limit
        assert labels.label(limit, AREA, dwelling) == name  # on the limit: that label
        over = np.nextafter(limit, np.inf)
        assert labels.label(float(over), AREA, dwelling) == order[order.index(name) + 1]
    assert labels.label(10_000.0, AREA, dwelling) == "G"
    assert labels.label(0.0, AREA, dwelling) == "A2020"


def test_dwellings_by_category() -> None:
    assert labels.is_dwelling(["residential"]) and labels.is_dwelling(["house", "office"])
    assert not labels.is_dwelling(["office"]) and not labels.is_dwelling([])


def test_the_saving_to_the_target_label() -> None:
    # 100 m2 dwelling using 25,480 kWh: C allows (110 + 3200/100) x 100 / 0.85 kWh of heat
    allowed = 142.0 * 100 / 0.85
    assert retrofit.saving(25_480.0, 100.0, True, "C", 0.85) == pytest.approx(25_480.0 - allowed)
    assert retrofit.saving(1_000.0, 100.0, True, "C", 0.85) == 0.0


def candidate(n: int, per_m2: float, dwelling: bool = False, saving: float = 0.0) -> retrofit.Candidate:
    return retrofit.Candidate(
        f"urn:ngsi-ld:Building:{n:03d}", dwelling, 100.0, per_m2 * 100, per_m2, "D", saving, 0.0
    )


@pytest.mark.parametrize(("count", "flagged"), [(6, 0), (7, 1), (12, 1), (13, 2), (25, 4), (100, 16)])
def test_the_worst_16_percent_of_non_residential_buildings(count: int, flagged: int) -> None:
    found = [candidate(n, float(n)) for n in range(count)] + [candidate(500 + n, 1e6, True) for n in range(5)]
    ranked = retrofit.ranked(found)
    worst = [c.building for c in ranked if c.worst]
    assert len(worst) == flagged
    assert sorted(worst) == [f"urn:ngsi-ld:Building:{n:03d}" for n in range(count - flagged, count)]


def test_candidates_rank_by_saving() -> None:
    ranked = retrofit.ranked([candidate(1, 100, saving=5.0), candidate(2, 90, saving=50.0), candidate(3, 80)])
    assert [c.building[-3:] for c in ranked] == ["002", "001", "003"]
    assert ranked[0].as_json(1)["rank"] == 1
