"""``manage.py xtb_calculation``: store and run one GFN2-xTB calculation (sp, opt, scan, md)."""

from dataclasses import asdict
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from nanomark.accounts.commandargs import lab_from_slug
from nanomark.accounts.models import Lab
from nanomark.computations.adsorptionstudy import XTB_TASK, enqueue
from nanomark.computations.choices import XtbTaskKind
from nanomark.computations.models import XtbCalculation
from nanomark.computations.tasks import run_xtb_calculation
from nanomark.runs import RunStatus
from simulation.structures import atoms_from_xyz
from simulation.xtbspec import MDSpec, ScanSpec


def _scan(text: str) -> dict:
    try:
        a, b, start, end, steps = text.split(",")
        spec = ScanSpec(int(a), int(b), float(start), float(end), int(steps))
    except (ValueError, TypeError):
        raise ValueError("--scan takes ATOM_A,ATOM_B,START_A,END_A,STEPS (0-based atoms)") from None
    if spec.steps < 2 or min(spec.start_a, spec.end_a) <= 0 or spec.atom_a == spec.atom_b:
        raise ValueError("--scan needs two different atoms, positive distances and >= 2 steps")
    return asdict(spec)


class Command(BaseCommand):
    help = (
        "Run one GFN2-xTB calculation on an XYZ file, or on the optimised geometry of an "
        "earlier calculation (--from), as a queued task or here with --now."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--lab", required=True, help="lab slug")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--xyz", type=Path, help="input geometry, XYZ in Å")
        source.add_argument("--from", dest="parent", type=int, help="earlier calculation's key")
        parser.add_argument("--task", choices=XtbTaskKind.values, default="sp")
        parser.add_argument("--name", help="a name for the record")
        parser.add_argument("--charge", type=int, default=0)
        parser.add_argument("--uhf", type=int, default=0, help="unpaired electrons")
        parser.add_argument("--electronic-temperature", type=float, default=300.0, help="K")
        parser.add_argument("--solvent", default="", help="ALPB implicit solvent, e.g. chcl3")
        parser.add_argument("--scan", help="ATOM_A,ATOM_B,START_A,END_A,STEPS for --task scan")
        parser.add_argument("--md-temperature", type=float, default=350.0, help="K")
        parser.add_argument("--md-length-ps", type=float, default=1.0)
        parser.add_argument("--md-time-step-fs", type=float, default=1.0)
        parser.add_argument("--now", action="store_true", help="run here instead of queueing")

    def handle(self, *args, **options) -> None:
        lab = lab_from_slug(options["lab"])
        parent, xyz = self._input(lab, options)
        try:
            atoms_from_xyz(xyz)
            parameters = self._parameters(options)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        with transaction.atomic():
            calc = XtbCalculation.objects.create(
                lab=lab,
                name=options["name"] or f"{options['task']} of {parent or options['xyz'].name}",
                task=options["task"],
                input_xyz=xyz,
                charge=options["charge"],
                unpaired_electrons=options["uhf"],
                electronic_temperature_k=options["electronic_temperature"],
                solvent=options["solvent"],
                parameters=parameters,
                sample_id=parent.sample_id if parent else None,
                material_id=parent.material_id if parent else None,
            )
            if parent is not None:
                calc.derived_from.add(parent)
            if not options["now"]:
                enqueue(XTB_TASK, calc.pk)
        if not options["now"]:
            self.stdout.write(f"xtb calculation {calc.pk} queued.")
            return
        run_xtb_calculation(calc.pk)
        calc.refresh_from_db()
        if calc.status != RunStatus.SUCCEEDED:
            raise CommandError(f"xtb calculation {calc.pk} failed: {calc.error}")
        self.stdout.write(
            f"xtb calculation {calc.pk}: E = {calc.energy_eh:.8f} Eh, "
            f"gap {calc.homo_lumo_gap_ev:.3f} eV, {calc.wall_time_s:.1f} s"
        )

    def _input(self, lab: Lab, options: dict) -> tuple[XtbCalculation | None, str]:
        if options["xyz"] is not None:
            try:
                return None, options["xyz"].read_text()
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"{options['xyz']}: {exc}") from exc
        parent = XtbCalculation.objects.filter(lab=lab, pk=options["parent"]).first()
        if parent is None:
            raise CommandError(f"no xtb calculation {options['parent']} in lab {lab.slug}")
        return parent, parent.optimized_xyz or parent.input_xyz

    def _parameters(self, options: dict) -> dict:
        if options["task"] == XtbTaskKind.SCAN:
            if not options["scan"]:
                raise ValueError("--task scan needs --scan ATOM_A,ATOM_B,START_A,END_A,STEPS")
            return {"scan": _scan(options["scan"])}
        if options["task"] == XtbTaskKind.MD:
            md = MDSpec(
                temperature_k=options["md_temperature"],
                time_step_fs=options["md_time_step_fs"],
                length_ps=options["md_length_ps"],
            )
            return {"md": asdict(md)}
        return {}
