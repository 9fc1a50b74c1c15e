"""Load profiles: which appliances a simulated site has and when it uses them.

Pure data. Hourly weights (local time, 24 values, 0..1) shape the daily
rhythm; a separate weekend curve shapes the weekly one. Power factors follow
the load type: resistive heat ~1.0, motors and compressors 0.7-0.85,
electronics 0.6-0.95 (cheap supplies low, PFC supplies high).
"""

from __future__ import annotations

from dataclasses import dataclass

Curve = tuple[float, ...]

FLAT: Curve = (1.0,) * 24
HOME_ACTIVITY: Curve = (
    0.02,
    0.01,
    0.01,
    0.01,
    0.01,
    0.05,
    0.6,
    0.9,
    0.5,
    0.3,
    0.3,
    0.35,
    0.5,
    0.35,
    0.3,
    0.3,
    0.4,
    0.6,
    0.9,
    1.0,
    0.9,
    0.7,
    0.4,
    0.1,
)
HOME_WEEKEND: Curve = (
    0.05,
    0.03,
    0.02,
    0.01,
    0.01,
    0.02,
    0.05,
    0.3,
    0.8,
    0.9,
    0.7,
    0.6,
    0.7,
    0.5,
    0.5,
    0.5,
    0.5,
    0.7,
    0.9,
    1.0,
    0.9,
    0.8,
    0.5,
    0.2,
)
HOME_LIGHTS: Curve = (
    0.05,
    0.03,
    0.02,
    0.02,
    0.02,
    0.05,
    0.35,
    0.45,
    0.25,
    0.08,
    0.05,
    0.05,
    0.05,
    0.05,
    0.05,
    0.08,
    0.2,
    0.5,
    0.85,
    1.0,
    1.0,
    0.9,
    0.6,
    0.2,
)
COOKING: Curve = (
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.02,
    0.05,
    0.03,
    0.02,
    0.1,
    0.5,
    0.6,
    0.2,
    0.05,
    0.05,
    0.2,
    0.8,
    1.0,
    0.6,
    0.2,
    0.05,
    0.02,
    0.0,
)
LAUNDRY: Curve = (
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.1,
    0.3,
    0.5,
    0.6,
    0.6,
    0.5,
    0.5,
    0.5,
    0.5,
    0.6,
    0.6,
    0.5,
    0.4,
    0.3,
    0.1,
    0.0,
    0.0,
)
OFFICE_HOURS: Curve = (
    0.02,
    0.02,
    0.02,
    0.02,
    0.02,
    0.02,
    0.05,
    0.4,
    0.9,
    1.0,
    1.0,
    1.0,
    0.8,
    1.0,
    1.0,
    1.0,
    0.9,
    0.6,
    0.2,
    0.05,
    0.02,
    0.02,
    0.02,
    0.02,
)
OFFICE_WEEKEND: Curve = (0.02,) * 24
WORKSHOP_HOURS: Curve = (
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.3,
    0.9,
    1.0,
    1.0,
    1.0,
    0.9,
    0.3,
    0.9,
    1.0,
    1.0,
    0.8,
    0.3,
    0.05,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
)
WORKSHOP_WEEKEND: Curve = (
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.05,
    0.25,
    0.3,
    0.3,
    0.2,
    0.05,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
)


@dataclass(frozen=True)
class Phase:
    """A part of an appliance run: until ``end`` (fraction of the run) it draws ``power_w``."""

    end: float
    power_w: float
    pf: float


@dataclass(frozen=True)
class Appliance:
    """One load at a site.

    kinds:
      * ``base`` - always on (standby, routers, servers);
      * ``rhythm`` - level follows the hourly curve (lights, computers, TV);
      * ``cycle`` - periodic on/off (fridge compressor, thermostat heater);
        the on-fraction is ``duty`` times the curve weight;
      * ``event`` - runs that start at random in time slots of ``slot_s``
        (probability ``rate`` times the curve weight), lasting ``min_s`` to
        ``max_s`` (at most one slot), optionally thermostat-cycled
        (``cycle_s``/``duty``) or made of ``phases``.
    """

    name: str
    kind: str
    power_w: float
    pf: float
    weekday: Curve = FLAT
    weekend: Curve | None = None
    period_s: float = 0.0
    duty: float = 1.0
    slot_s: float = 0.0
    rate: float = 0.0
    min_s: float = 0.0
    max_s: float = 0.0
    cycle_s: float = 0.0
    phases: tuple[Phase, ...] = ()
    spread: float = 0.15


@dataclass(frozen=True)
class Profile:
    """A kind of site: its appliances and the supply it sees."""

    name: str
    appliances: tuple[Appliance, ...]
    alarm_threshold_w: float = 5000.0
    line_resistance_ohm: float = 0.3


HOUSEHOLD = Profile(
    name="household",
    alarm_threshold_w=5500.0,
    appliances=(
        Appliance("standby", "base", 35.0, 0.6, spread=0.4),
        Appliance("fridge", "cycle", 120.0, 0.78, period_s=2700.0, duty=0.42),
        Appliance("lights", "rhythm", 180.0, 0.85, HOME_LIGHTS, HOME_WEEKEND, spread=0.3),
        Appliance("electronics", "rhythm", 140.0, 0.9, HOME_ACTIVITY, HOME_WEEKEND),
        Appliance(
            "kettle",
            "event",
            2000.0,
            1.0,
            HOME_ACTIVITY,
            HOME_WEEKEND,
            slot_s=1800.0,
            rate=0.45,
            min_s=120.0,
            max_s=240.0,
        ),
        Appliance(
            "microwave",
            "event",
            1100.0,
            0.92,
            COOKING,
            COOKING,
            slot_s=1800.0,
            rate=0.3,
            min_s=60.0,
            max_s=300.0,
        ),
        Appliance(
            "oven",
            "event",
            2200.0,
            1.0,
            COOKING,
            COOKING,
            slot_s=5400.0,
            rate=0.35,
            min_s=1500.0,
            max_s=4800.0,
            cycle_s=120.0,
            duty=0.6,
        ),
        Appliance(
            "washing_machine",
            "event",
            2000.0,
            1.0,
            LAUNDRY,
            LAUNDRY,
            slot_s=7200.0,
            rate=0.12,
            min_s=3600.0,
            max_s=7000.0,
            phases=(Phase(0.2, 2000.0, 1.0), Phase(0.85, 250.0, 0.7), Phase(1.0, 500.0, 0.75)),
        ),
    ),
)

OFFICE = Profile(
    name="office",
    alarm_threshold_w=9000.0,
    line_resistance_ohm=0.15,
    appliances=(
        Appliance("servers", "base", 250.0, 0.95),
        Appliance("fridge", "cycle", 110.0, 0.78, period_s=2400.0, duty=0.4),
        Appliance("computers", "rhythm", 1200.0, 0.93, OFFICE_HOURS, OFFICE_WEEKEND),
        Appliance("lights", "rhythm", 900.0, 0.9, OFFICE_HOURS, OFFICE_WEEKEND),
        Appliance(
            "hvac", "cycle", 1800.0, 0.85, OFFICE_HOURS, OFFICE_WEEKEND, period_s=1800.0, duty=0.6
        ),
        Appliance(
            "coffee",
            "event",
            1400.0,
            1.0,
            OFFICE_HOURS,
            OFFICE_WEEKEND,
            slot_s=1800.0,
            rate=0.6,
            min_s=60.0,
            max_s=180.0,
        ),
        Appliance(
            "printer",
            "event",
            600.0,
            0.65,
            OFFICE_HOURS,
            OFFICE_WEEKEND,
            slot_s=900.0,
            rate=0.3,
            min_s=20.0,
            max_s=120.0,
        ),
    ),
)

WORKSHOP = Profile(
    name="workshop",
    alarm_threshold_w=12000.0,
    line_resistance_ohm=0.2,
    appliances=(
        Appliance("standby", "base", 60.0, 0.6),
        Appliance("lights", "rhythm", 500.0, 0.9, WORKSHOP_HOURS, WORKSHOP_WEEKEND),
        Appliance(
            "heater",
            "cycle",
            3000.0,
            1.0,
            WORKSHOP_HOURS,
            WORKSHOP_WEEKEND,
            period_s=1200.0,
            duty=0.4,
        ),
        Appliance(
            "compressor",
            "event",
            2200.0,
            0.8,
            WORKSHOP_HOURS,
            WORKSHOP_WEEKEND,
            slot_s=900.0,
            rate=0.6,
            min_s=60.0,
            max_s=420.0,
        ),
        Appliance(
            "lathe",
            "event",
            1100.0,
            0.7,
            WORKSHOP_HOURS,
            WORKSHOP_WEEKEND,
            slot_s=1800.0,
            rate=0.5,
            min_s=300.0,
            max_s=1500.0,
        ),
        Appliance(
            "welder",
            "event",
            3500.0,
            0.65,
            WORKSHOP_HOURS,
            WORKSHOP_WEEKEND,
            slot_s=3600.0,
            rate=0.25,
            min_s=120.0,
            max_s=900.0,
            cycle_s=60.0,
            duty=0.5,
        ),
    ),
)

PROFILES: dict[str, Profile] = {p.name: p for p in (HOUSEHOLD, OFFICE, WORKSHOP)}


def get_profile(name: str) -> Profile:
    """Return the named profile; ValueError lists the valid names."""
    try:
        return PROFILES[name]
    except KeyError:
        names = ", ".join(sorted(PROFILES))
        raise ValueError(f"unknown load profile {name!r}: choose one of {names}") from None
