"""Admin for organizations and memberships, and the tenant scoping every app's admin uses."""

from __future__ import annotations

from django.contrib import admin

from . import services
from .models import Membership, Organization


class TenantScopedAdmin(admin.ModelAdmin):
    """Staff who are not superusers see and pick only objects of their own organizations.

    ``organization_path`` leads from the model to its organization; ``scoped_relations`` says,
    for each model a foreign key may point at, how to keep its choices to those organizations
    (apps extend it with their own models).
    """

    organization_path = "organization"
    scoped_relations: dict = {Organization: "pk__in"}

    def member_organizations(self, request):
        return Organization.objects.filter(memberships__user=request.user)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.organization_path}__in":
                                  self.member_organizations(request)}).distinct()

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        lookup = self.scoped_relations.get(db_field.related_model)
        if lookup and not request.user.is_superuser:
            kwargs["queryset"] = db_field.related_model.objects.filter(
                **{lookup: self.member_organizations(request)})
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]
    fields = ["user", "role"]


def _membership_forms_save(formset) -> None:
    """Memberships edited on an organization's page go through the services."""
    formset.save(commit=False)  # sorts the forms into new, changed and deleted; writes nothing
    for membership in formset.deleted_objects:
        services.membership_remove(membership=membership)
    for membership in [*formset.new_objects, *(obj for obj, _ in formset.changed_objects)]:
        saved = services.membership_set(organization=membership.organization,
                                        user=membership.user, role=membership.role)
        membership.pk = saved.pk


@admin.register(Organization)
class OrganizationAdmin(TenantScopedAdmin):
    organization_path = "pk"
    list_display = ["slug", "name", "created_at"]
    search_fields = ["slug", "name"]
    inlines = [MembershipInline]

    def get_readonly_fields(self, request, obj=None):
        return ["slug", "created_at"] if obj else ["created_at"]

    def save_model(self, request, obj, form, change):
        if change:
            services.organization_rename(organization=obj, name=obj.name)
        else:
            obj.pk = services.organization_create(slug=obj.slug, name=obj.name).pk
            obj._state.adding = False

    def save_formset(self, request, form, formset, change):
        if formset.model is Membership:
            _membership_forms_save(formset)
        else:
            super().save_formset(request, form, formset, change)


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role", "organization"]
    search_fields = ["user__username", "organization__slug"]
    readonly_fields = ["created_at"]

    def save_model(self, request, obj, form, change):
        saved = services.membership_set(organization=obj.organization, user=obj.user,
                                        role=obj.role)
        obj.pk = saved.pk
        obj._state.adding = False

    def delete_model(self, request, obj):
        services.membership_remove(membership=obj)
