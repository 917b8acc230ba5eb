"""Admin for organizations, memberships and API keys, and the tenant scoping every app's
admin uses."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from . import services
from .models import APIKey, APIKeyScope, Membership, Organization


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
    list_display = ["slug", "name", "streaming_enabled", "created_at"]
    list_filter = ["streaming_enabled"]
    search_fields = ["slug", "name"]
    inlines = [MembershipInline]

    def get_readonly_fields(self, request, obj=None):
        return ["slug", "created_at"] if obj else ["created_at"]

    def save_model(self, request, obj, form, change):
        if change:
            services.organization_rename(organization=obj, name=obj.name)
            if "streaming_enabled" in form.changed_data:
                services.organization_streaming_set(organization=obj,
                                                    enabled=obj.streaming_enabled)
        else:
            created = services.organization_create(slug=obj.slug, name=obj.name)
            if not obj.streaming_enabled:
                services.organization_streaming_set(organization=created, enabled=False)
            obj.pk = created.pk
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


class APIKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=APIKeyScope.choices,
                                       widget=forms.CheckboxSelectMultiple,
                                       help_text="What the key may do.")

    class Meta:
        model = APIKey
        fields = ["organization", "name", "scopes"]


@admin.register(APIKey)
class APIKeyAdmin(TenantScopedAdmin):
    """Organization keys for agent CLIs and services; the secret is shown once, in a message."""

    form = APIKeyForm
    list_display = ["display_prefix", "organization", "name", "scope_list", "status",
                    "created_at"]
    list_filter = ["organization"]
    search_fields = ["display_prefix", "name"]
    actions = ["revoke_keys", "rotate_keys"]

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the record stays

    @admin.display(description="scopes")
    def scope_list(self, api_key):
        return ", ".join(api_key.scopes)


    def save_model(self, request, obj, form, change):
        created, raw_key = services.api_key_create(
            organization=form.cleaned_data["organization"], name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"], created_by=request.user)
        obj.pk = created.pk
        obj._state.adding = False
        messages.warning(request, f"New API key for {created.organization}: {raw_key} — copy "
                                  "it now, it will not be shown again.")

    @admin.action(description="Revoke selected keys now")
    def revoke_keys(self, request, queryset):
        for api_key in queryset:
            services.api_key_revoke(api_key=api_key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).")

    @admin.action(description="Rotate selected keys (old ones keep working for an hour)")
    def rotate_keys(self, request, queryset):
        for api_key in queryset:
            if not api_key.is_active():
                self.message_user(request, f"{api_key} is not active; not rotated.",
                                  messages.ERROR)
                continue
            _, raw_key = services.api_key_rotate(api_key=api_key)
            messages.warning(request, f"Replacement for {api_key.display_prefix}…: {raw_key} — "
                                      "copy it now, it will not be shown again.")
