from django.contrib import admin

from nanomark.accounts.models import Lab, Membership


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Lab)
class LabAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "lab", "role", "joined_at"]
    list_filter = ["role", "lab"]
    search_fields = ["user__username", "lab__name"]
    autocomplete_fields = ["user", "lab"]
