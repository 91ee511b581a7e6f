"""API of the similar-material search: by image, image region or sample; similar samples.

The ranking is :mod:`nanomark.search.queries`; this module reads the request,
names the hits (file names, sample codes, thumbnail links) and turns
:class:`~nanomark.search.queries.NothingToSearch` into a 400 with its message.
"""

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from nanomark.api.registry import ModelVersionBriefSerializer
from nanomark.api.scoping import LabScopedRelatedField
from nanomark.imaging.models import SEMImage
from nanomark.samples.choices import MaterialKind, SynthesisKind
from nanomark.samples.models import Material, Sample
from nanomark.search.queries import (
    NothingToSearch,
    Query,
    RankedGroup,
    SearchFilters,
    image_query,
    region_query,
    sample_query,
    search_similar,
)

#: Most hits one search may ask for.
MAX_K = 200


class SearchFiltersSerializer(serializers.Serializer):
    """Material and synthesis restrictions of the hits (the sample list's filter names)."""

    material = LabScopedRelatedField(queryset=Material.objects.all(), required=False)
    material_kind = serializers.ChoiceField(MaterialKind.choices, required=False)
    synthesis_kind = serializers.ChoiceField(SynthesisKind.choices, required=False)
    precursor = serializers.CharField(required=False, max_length=120)
    temperature_min = serializers.FloatField(required=False, help_text="°C, inclusive")
    temperature_max = serializers.FloatField(required=False, help_text="°C, inclusive")

    def validate(self, attrs: dict) -> dict:
        low, high = attrs.get("temperature_min"), attrs.get("temperature_max")
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError(
                {"temperature_min": f"{low:g} °C is above temperature_max {high:g} °C."}
            )
        return attrs

    def search_filters(self) -> SearchFilters:
        """The validated restrictions as the query module takes them."""
        data = self.validated_data
        material = data.get("material")
        return SearchFilters(
            material_id=material.pk if material is not None else None,
            material_kind=data.get("material_kind", ""),
            synthesis_kind=data.get("synthesis_kind", ""),
            precursor=data.get("precursor", ""),
            temperature_c_min=data.get("temperature_min"),
            temperature_c_max=data.get("temperature_max"),
        )


class RegionSerializer(serializers.Serializer):
    """A rectangle of an image, in the original image's pixels."""

    image = LabScopedRelatedField(queryset=SEMImage.objects.all())
    x = serializers.IntegerField(min_value=0, help_text="left edge, px")
    y = serializers.IntegerField(min_value=0, help_text="top edge, px")
    width = serializers.IntegerField(min_value=1, help_text="px")
    height = serializers.IntegerField(min_value=1, help_text="px")


class SearchRequestSerializer(SearchFiltersSerializer):
    """One query (an image, a region of an image, or a sample), ``k`` and optional filters.

    An image query leaves out the image itself, a sample query the sample's
    images; a region query keeps the rest of its image (the same structure
    elsewhere on it is a useful hit).
    """

    QUERIES = ("image", "region", "sample")

    image = LabScopedRelatedField(queryset=SEMImage.objects.all(), required=False)
    region = RegionSerializer(required=False)
    sample = LabScopedRelatedField(queryset=Sample.objects.all(), required=False)
    k = serializers.IntegerField(
        min_value=1, max_value=MAX_K, default=20, help_text="patches wanted"
    )

    def validate(self, attrs: dict) -> dict:
        given = [name for name in self.QUERIES if attrs.get(name) is not None]
        if len(given) != 1:
            raise serializers.ValidationError(
                f"Give exactly one of {', '.join(self.QUERIES)} (got {len(given) or 'none'})."
            )
        return super().validate(attrs)

    def query(self) -> Query:
        """The request's query (vectors, embedder, what to leave out).

        Raises:
            NothingToSearch: the image, region or sample has no embeddings.
        """
        data = self.validated_data
        if data.get("region") is not None:
            region = data["region"]
            return region_query(
                region["image"], region["x"], region["y"], region["width"], region["height"]
            )
        if data.get("image") is not None:
            return image_query(data["image"])
        return sample_query(data["sample"])


class PatchHitSerializer(serializers.Serializer):
    """A similar patch: its image, where it is (px), and its cosine similarity (−1..1)."""

    embedding_id = serializers.IntegerField()
    image = serializers.IntegerField(source="image_id")
    sample = serializers.IntegerField(source="sample_id")
    x_px = serializers.IntegerField()
    y_px = serializers.IntegerField()
    size_px = serializers.IntegerField()
    similarity = serializers.FloatField()
    thumbnail_url = serializers.SerializerMethodField()
    preview_url = serializers.SerializerMethodField()

    def get_thumbnail_url(self, hit) -> str:
        return _image_link(self.context["request"], "image-thumbnail", hit.image_id)

    def get_preview_url(self, hit) -> str:
        return _image_link(self.context["request"], "image-preview", hit.image_id)


class RankedImageSerializer(serializers.Serializer):
    """An image ranked by its best patch's similarity."""

    image = serializers.IntegerField(source="key")
    filename = serializers.SerializerMethodField()
    similarity = serializers.FloatField()
    best_patch = PatchHitSerializer()

    def get_filename(self, group: RankedGroup) -> str:
        return self.context["filenames"][group.key]


class RankedSampleSerializer(serializers.Serializer):
    """A sample ranked by its best patch's similarity."""

    sample = serializers.IntegerField(source="key")
    code = serializers.SerializerMethodField()
    similarity = serializers.FloatField()
    best_patch = PatchHitSerializer()

    def get_code(self, group: RankedGroup) -> str:
        return self.context["codes"][group.key]


class SearchResultSerializer(serializers.Serializer):
    """The embedder searched with, the ``k`` best patches, and their images and samples."""

    embedder = ModelVersionBriefSerializer()
    patches = PatchHitSerializer(many=True)
    images = RankedImageSerializer(many=True)
    samples = RankedSampleSerializer(many=True)


def _image_link(request, name: str, image_id: int) -> str:
    return request.build_absolute_uri(reverse(name, args=[image_id]))


class SearchView(GenericAPIView):
    """``POST /api/search/``: patches, images and samples like an image, a region or a sample.

    Searching is reading: viewers may search. A query without embeddings is a 400.
    """

    serializer_class = SearchRequestSerializer
    pagination_class = None
    filter_backends: list = []

    @extend_schema(request=SearchRequestSerializer, responses={200: SearchResultSerializer})
    def post(self, request) -> Response:
        query = self.get_serializer(data=request.data)
        query.is_valid(raise_exception=True)
        try:
            search = query.query()
        except NothingToSearch as error:
            return Response({"detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        result = search_similar(
            request.user, search, k=query.validated_data["k"], filters=query.search_filters()
        )
        context = {
            "request": request,
            "filenames": dict(
                SEMImage.objects.filter(pk__in=[g.key for g in result.images]).values_list(
                    "pk", "original_filename"
                )
            ),
            "codes": dict(
                Sample.objects.filter(pk__in=[g.key for g in result.samples]).values_list(
                    "pk", "code"
                )
            ),
        }
        return Response(SearchResultSerializer(result, context=context).data)


class SimilarSampleSerializer(serializers.Serializer):
    """A sample and the energy distance of its embedding distribution to the query's (0..4)."""

    id = serializers.IntegerField(source="sample.pk")
    code = serializers.CharField(source="sample.code")
    lab = serializers.CharField(source="sample.lab.slug")
    distance = serializers.FloatField()


class SimilarSamplesQuerySerializer(SearchFiltersSerializer):
    """Query parameters of a similar-samples request: how many, and the filters."""

    limit = serializers.IntegerField(min_value=1, max_value=100, default=10)
