"""Choice constants of the samples app."""

from django.db import models


class MaterialKind(models.TextChoices):
    """Families of layered carbon materials studied with Pd markers."""

    GRAPHITE = "graphite", "Graphite"
    GRAPHENE = "graphene", "Graphene"
    FEW_LAYER_GRAPHENE = "few_layer_graphene", "Few-layer graphene"
    GRAPHENE_OXIDE = "graphene_oxide", "Graphene oxide (reduced or not)"
    CARBON_NANOTUBES = "cnt", "Carbon nanotubes"
    CARBON_BLACK = "carbon_black", "Carbon black"
    ACTIVATED_CARBON = "activated_carbon", "Activated carbon"
    OTHER = "other", "Other"


class SynthesisKind(models.TextChoices):
    """What a synthesis step did to the sample."""

    PD_DECORATION = "pd_decoration", "Pd nanoparticle decoration"
    MATERIAL_PREPARATION = "material_preparation", "Material preparation / treatment"
    OTHER = "other", "Other"
