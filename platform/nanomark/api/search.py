"""API of the similar-material search: by image, image region or sample; similar samples.

The ranking is :mod:`nanomark.search.queries`; this module reads the request,
names the hits (file names, sample codes, thumbnail links) and turns
:class:`~nanomark.search.queries.NothingToSearch` into a 400 with its message.
"""

from django.urls import reverse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from nanomark.api.registry import ModelVersionBriefSerializer
from nanomark.api.scoping import LabScopedRelatedField
from nanomark.imaging.models import SEMImage
from nanomark.samples.filters import SampleFilter
from nanomark.samples.models import Sample
from nanomark.search.queries import (
    NothingToSearch,
    Query,
    RankedGroup,
    image_query,
    region_query,
    sample_query,
    search_similar,
)

#: Most hits one search may ask for.
MAX_K = 200


class RegionSerializer(serializers.Serializer):
    """A rectangle of an image, in the original image's pixels."""

    image = LabScopedRelatedField(queryset=SEMImage.objects.all())
    x = serializers.IntegerField(min_value=0, help_text="left edge, px")
    y = serializers.IntegerField(min_value=0, help_text="top edge, px")
    width = serializers.IntegerField(min_value=1, help_text="px")
    height = serializers.IntegerField(min_value=1, help_text="px")


class SearchRequestSerializer(serializers.Serializer):
    """One query (an image, a region of an image, or a sample) and ``k``.

    An image query leaves out the image itself, a sample query the sample's
    images; a region query keeps the rest of its image (the same structure
    elsewhere on it is a useful hit). The hits' filters are query parameters
    (the sample list's, :class:`~nanomark.samples.filters.SampleFilter`).
    """

    QUERIES = ("image", "region", "sample")

    image = LabScopedRelatedField(queryset=SEMImage.objects.all(), required=False)
    region = RegionSerializer(required=False)
    sample = LabScopedRelatedField(queryset=Sample.objects.all(), required=False)
    k = serializers.IntegerField(
        min_value=1, max_value=MAX_K, default=20, help_text="patches wanted"
    )

    def validate(self, attrs: dict) -> dict:
        misplaced = sorted(set(self.initial_data) & set(SampleFilter.base_filters))
        if misplaced:
            raise serializers.ValidationError(
                f"Filters are query parameters, not body fields: ?{misplaced[0]}=…"
                f" ({', '.join(misplaced)})."
            )
        given = [name for name in self.QUERIES if attrs.get(name) is not None]
        if len(given) != 1:
            raise serializers.ValidationError(
                f"Give exactly one of {', '.join(self.QUERIES)} (got {len(given) or 'none'})."
            )
        return attrs

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
    The hits are of the samples the query parameters select
    (:class:`~nanomark.samples.filters.SampleFilter`, as on the sample list).
    """

    serializer_class = SearchRequestSerializer
    pagination_class = None
    queryset = Sample.objects.all()
    filter_backends = [DjangoFilterBackend]
    filterset_class = SampleFilter
    # A POST's filters are documented too (drf-spectacular shows them for lists only).
    documents_filters = True

    @extend_schema(request=SearchRequestSerializer, responses={200: SearchResultSerializer})
    def post(self, request) -> Response:
        query = self.get_serializer(data=request.data)
        query.is_valid(raise_exception=True)
        try:
            search = query.query()
        except NothingToSearch as error:
            return Response({"detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        samples = self.filter_queryset(self.get_queryset())
        result = search_similar(request.user, search, k=query.validated_data["k"], samples=samples)
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


class SimilarSamplesQuerySerializer(serializers.Serializer):
    """How many similar samples a request wants (its filters are the sample list's)."""

    limit = serializers.IntegerField(min_value=1, max_value=100, default=10)
