"""``manage.py adsorption_study --lab SLUG``: E_ads of Pd13 at graphene sites with GFN2-xTB."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from nanomark.accounts.commandargs import lab_from_slug
from nanomark.computations.adsorptionstudy import create_adsorption_study, start_references
from nanomark.computations.models import AdsorptionEnergy
from nanomark.computations.tasks import run_xtb_calculation
from nanomark.computations.xtbrecords import DEFAULT_RETRY_TEMPERATURES_K, execute_calculation
from nanomark.samples.models import Material
from simulation.adsorption import AdsorptionSite
from simulation.structures import pd13_icosahedron, rectangular_flake

DEFAULT_SITES = (AdsorptionSite.BASAL, AdsorptionSite.ARMCHAIR_EDGE, AdsorptionSite.ZIGZAG_EDGE)


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(part) for part in text.split(",") if part.strip())


class Command(BaseCommand):
    help = (
        "Compute the adsorption energy of a Pd13 icosahedron at graphene sites (basal plane, "
        "armchair and zigzag edges) on a rectangular flake: three GFN2-xTB single points per "
        "site, queued for the workers, or run here with --now."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--lab", required=True, help="lab slug")
        parser.add_argument("--zigzag-rings", type=int, default=5, help="rings along x (>= 2)")
        parser.add_argument("--ring-rows", type=int, default=5, help="ring rows along y (odd)")
        parser.add_argument(
            "--hydrogen-terminated",
            action="store_true",
            help="cap the edges with H (the paper's flake has unsaturated edges)",
        )
        parser.add_argument(
            "--sites",
            default=",".join(DEFAULT_SITES),
            help=f"comma-separated, from: {', '.join(AdsorptionSite.CHOICES)}",
        )
        parser.add_argument("--material", help="name of the lab's material the flake models")
        parser.add_argument(
            "--retry-temperatures",
            type=_floats,
            default=DEFAULT_RETRY_TEMPERATURES_K,
            help="electronic temperatures (K) tried after SCC failures, e.g. 1000,2000",
        )
        parser.add_argument("--now", action="store_true", help="run here and print E_ads")

    def handle(self, *args, **options) -> None:
        lab = lab_from_slug(options["lab"])
        sites = [site.strip() for site in options["sites"].split(",") if site.strip()]
        unknown = set(sites) - set(AdsorptionSite.CHOICES)
        if unknown or not sites:
            raise CommandError(
                f"unknown sites {sorted(unknown)}; choose from {', '.join(AdsorptionSite.CHOICES)}"
            )
        material = None
        if options["material"]:
            material = Material.objects.filter(lab=lab, name=options["material"]).first()
            if material is None:
                raise CommandError(f"no material {options['material']!r} in lab {lab.slug}")
        try:
            flake = rectangular_flake(
                options["zigzag_rings"],
                options["ring_rows"],
                hydrogen_terminated=options["hydrogen_terminated"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        name = f"Pd13 on {flake.get_chemical_formula()}"
        try:
            complexes = create_adsorption_study(
                lab=lab,
                flake=flake,
                cluster=pd13_icosahedron(),
                sites=sites,
                name=name,
                retry_temperatures_k=options["retry_temperatures"],
                material=material,
                enqueue_tasks=not options["now"],
            )
        except ValueError as exc:  # a site the flake cannot hold; nothing was stored
            raise CommandError(str(exc)) from exc
        if not options["now"]:
            keys = ", ".join(str(calc.pk) for calc in complexes)
            self.stdout.write(f"{name}: {len(complexes)} site calculations queued ({keys}).")
            return
        for calc in complexes:
            execute_calculation(calc.pk)
            start_references(calc.pk, run=run_xtb_calculation)
        self._report(complexes)

    def _report(self, complexes) -> None:
        for calc in complexes:
            calc.refresh_from_db()
            energy = AdsorptionEnergy.objects.filter(complex_calculation=calc).first()
            if energy is None or energy.energy_kcal_mol is None:
                self.stdout.write(f"{calc.name}: {calc.status} {calc.error}".rstrip())
            else:
                self.stdout.write(
                    f"{calc.name}: E_ads = {energy.energy_kcal_mol:.1f} kcal/mol "
                    f"(electronic temperature {energy.electronic_temperature_k:g} K)"
                )
