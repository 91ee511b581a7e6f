"""The instrument facts every SEM metadata reader reports, in NanoMark's units."""

from dataclasses import dataclass, fields
from datetime import datetime


@dataclass(frozen=True)
class InstrumentFacts:
    """What an SEM file says about how it was taken; ``None`` where it says nothing.

    Attributes:
        magnification: nominal magnification (times).
        accelerating_voltage_kv: beam energy in kV.
        working_distance_mm: working distance in mm.
        detector: detector or signal name, e.g. ``"SE(U)"``.
        instrument: instrument model, e.g. ``"SU8200"``.
        acquired_at: acquisition time (naive, instrument local time).
    """

    magnification: float | None = None
    accelerating_voltage_kv: float | None = None
    working_distance_mm: float | None = None
    detector: str | None = None
    instrument: str | None = None
    acquired_at: datetime | None = None

    def facts(self) -> dict[str, object]:
        """The instrument facts alone, by field name (to build another reader's result)."""
        return {name: getattr(self, name) for name in INSTRUMENT_FACTS}


#: Names of the :class:`InstrumentFacts` fields.
INSTRUMENT_FACTS = tuple(item.name for item in fields(InstrumentFacts))
