from django.contrib import admin

from nanomark.search.models import SearchIndex


@admin.register(SearchIndex)
class SearchIndexAdmin(admin.ModelAdmin):
    list_display = ["embedder", "lab", "kind", "vector_count", "updated_at"]
    readonly_fields = ["file", "kind", "vector_count", "updated_at"]
