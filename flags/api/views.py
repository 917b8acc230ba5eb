"""Management API views: validate input, call one selector or service, serialize output."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.exceptions import ValidationError
from rest_framework.views import APIView

from tenancy.models import Role
from tenancy.selectors import organization_default_for_user, organization_get_for_user

from .. import scheduling, selectors, services
from ..audit import Actor
from . import serializers as s
from .errors import validation_response

ORGANIZATION_PARAM = OpenApiParameter(
    "organization", str, description="Organization slug, when a project key exists in several.")
PAGE_PARAMS = [OpenApiParameter("page", int, description="Page number, from 1."),
               OpenApiParameter("pageSize", int, description="Items per page, 1 to 500 (50).")]


def page_of(serializer_class):
    """The schema of a paginated list of ``serializer_class`` (what ``paginated`` answers)."""
    return inline_serializer(f"{serializer_class.__name__.removesuffix('Output')}Page", {
        "count": serializers.IntegerField(),
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": serializer_class(many=True)})


class Page(PageNumberPagination):
    page_size = 50
    page_size_query_param = "pageSize"
    max_page_size = 500

    def paginate_queryset(self, queryset, request, view=None):
        number = request.query_params.get(self.page_query_param)
        if number is not None and not (number.isdigit() and int(number) > 0):
            raise ValidationError({self.page_query_param: ["must be a whole number from 1"]})
        return super().paginate_queryset(queryset, request, view)  # past the last page: 404

    def get_page_size(self, request):
        value = request.query_params.get(self.page_size_query_param)
        if value is not None and not (value.isdigit() and int(value) > 0):
            raise ValidationError({self.page_size_query_param: [
                f"must be a whole number from 1 to {self.max_page_size}"]})
        return super().get_page_size(request)


def validated(serializer_class, request):
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def paginated(view: APIView, queryset, serializer_class) -> Response:
    paginator = Page()
    page = paginator.paginate_queryset(queryset, view.request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


class ProjectScoped(APIView):
    """Resolves ``<project>`` (and ``<env>``) for the caller, with the role a method needs."""

    write_role = Role.EDITOR

    def project(self, min_role: str | None = None):
        if min_role is None:
            min_role = Role.VIEWER if self.request.method in ("GET", "HEAD", "OPTIONS") \
                else self.write_role
        return selectors.project_get_for_user(
            self.request.user, self.kwargs["project"], min_role=min_role,
            organization=self.request.query_params.get("organization"))

    def environment(self, min_role: str | None = None):
        return selectors.environment_get(self.project(min_role), self.kwargs["env"])

    def actor(self) -> Actor:
        return Actor.from_request(self.request)


# --- projects and environments --------------------------------------------------------------

class ProjectListView(APIView):
    @extend_schema(parameters=PAGE_PARAMS, responses=page_of(s.ProjectOutput),
                   operation_id="v1_projects_list")
    def get(self, request):
        return paginated(self, selectors.projects_for_user(request.user), s.ProjectOutput)

    @extend_schema(request=s.ProjectCreateInput, responses={201: s.ProjectOutput})
    def post(self, request):
        data = validated(s.ProjectCreateInput, request)
        slug = data.get("organization")
        if not slug:
            default = organization_default_for_user(request.user)
            if default is None:
                return validation_response({"organization": ["name the organization (slug)"]})
            slug = default.slug
        organization = organization_get_for_user(request.user, slug, min_role=Role.ADMIN)
        project = services.project_create(organization=organization, key=data["key"],
                                          name=data.get("name", ""),
                                          actor=Actor.from_request(request))
        return Response(s.ProjectOutput(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailView(ProjectScoped):
    @extend_schema(parameters=[ORGANIZATION_PARAM], responses=s.ProjectOutput)
    def get(self, request, project):
        return Response(s.ProjectOutput(self.project()).data)


class EnvironmentListView(ProjectScoped):
    write_role = Role.ADMIN

    @extend_schema(parameters=[ORGANIZATION_PARAM, *PAGE_PARAMS],
                   responses=page_of(s.EnvironmentOutput),
                   operation_id="v1_projects_environments_list")
    def get(self, request, project):
        return paginated(self, self.project().environments.select_related("project"),
                         s.EnvironmentOutput)

    @extend_schema(request=s.EnvironmentCreateInput, responses={201: s.EnvironmentOutput})
    def post(self, request, project):
        project_obj = self.project()
        data = validated(s.EnvironmentCreateInput, request)
        environment = services.environment_create(project=project_obj, key=data["key"],
                                                  name=data.get("name", ""), actor=self.actor())
        return Response(s.EnvironmentOutput(environment).data, status=status.HTTP_201_CREATED)


class EnvironmentDetailView(ProjectScoped):
    @extend_schema(parameters=[ORGANIZATION_PARAM], responses=s.EnvironmentOutput)
    def get(self, request, project, env):
        return Response(s.EnvironmentOutput(self.environment()).data)


# --- SDK keys -------------------------------------------------------------------------------

class SDKKeyListView(ProjectScoped):
    """Environment keys: listing needs the admin role too, as keys are credentials."""

    write_role = Role.ADMIN

    @extend_schema(parameters=[ORGANIZATION_PARAM, *PAGE_PARAMS],
                   responses=page_of(s.SDKKeyOutput),
                   operation_id="v1_projects_environments_keys_list")
    def get(self, request, project, env):
        environment = self.environment(Role.ADMIN)
        return paginated(self, selectors.sdk_keys_for_environment(environment), s.SDKKeyOutput)

    @extend_schema(request=s.SDKKeyCreateInput, responses={201: dict})
    def post(self, request, project, env):
        environment = self.environment()
        data = validated(s.SDKKeyCreateInput, request)
        sdk_key, raw_key = services.sdk_key_create(environment=environment, kind=data["kind"],
                                                   name=data.get("name", ""), actor=self.actor())
        return Response({**s.SDKKeyOutput(sdk_key).data, "key": raw_key},
                        status=status.HTTP_201_CREATED)


class SDKKeyRevokeView(ProjectScoped):
    write_role = Role.ADMIN

    @extend_schema(request=None, responses=s.SDKKeyOutput)
    def post(self, request, project, env, key_id):
        sdk_key = selectors.sdk_key_get(self.environment(), key_id)
        return Response(s.SDKKeyOutput(services.sdk_key_revoke(sdk_key=sdk_key,
                                                               actor=self.actor())).data)


class SDKKeyRotateView(ProjectScoped):
    write_role = Role.ADMIN

    @extend_schema(request=s.SDKKeyRotateInput, responses={201: dict})
    def post(self, request, project, env, key_id):
        sdk_key = selectors.sdk_key_get(self.environment(), key_id)
        data = validated(s.SDKKeyRotateInput, request)
        new_key, raw_key = services.sdk_key_rotate(sdk_key=sdk_key, actor=self.actor(),
                                                   grace_seconds=data.get("graceSeconds"))
        sdk_key.refresh_from_db()
        return Response({**s.SDKKeyOutput(new_key).data, "key": raw_key,
                         "previousKey": s.SDKKeyOutput(sdk_key).data},
                        status=status.HTTP_201_CREATED)


# --- flags ----------------------------------------------------------------------------------

class FlagListView(ProjectScoped):
    @extend_schema(parameters=[ORGANIZATION_PARAM, OpenApiParameter("tag", str),
                               OpenApiParameter("archived", bool), *PAGE_PARAMS],
                   responses=page_of(s.FlagOutput),
                   operation_id="v1_projects_flags_list")
    def get(self, request, project):
        archived = request.query_params.get("archived")
        if archived is not None:
            if archived.lower() not in ("true", "false"):
                return validation_response({"archived": ["must be true or false"]})
            archived = archived.lower() == "true"
        flags = selectors.flags_list(self.project(), tag=request.query_params.get("tag"),
                                     archived=archived)
        return paginated(self, flags, s.FlagOutput)

    @extend_schema(request=s.FlagCreateInput, responses={201: s.FlagOutput})
    def post(self, request, project):
        project_obj = self.project()
        data = validated(s.FlagCreateInput, request)
        flag = services.flag_create(project=project_obj, actor=self.actor(), **data)
        return Response(s.FlagOutput(flag).data, status=status.HTTP_201_CREATED)


class FlagDetailView(ProjectScoped):
    @extend_schema(parameters=[ORGANIZATION_PARAM], responses=s.FlagOutput)
    def get(self, request, project, flag):
        return Response(s.FlagOutput(selectors.flag_get(self.project(), flag)).data)

    @extend_schema(request=s.FlagUpdateInput, responses=s.FlagOutput)
    def patch(self, request, project, flag):
        flag_obj = selectors.flag_get(self.project(), flag)
        data = validated(s.FlagUpdateInput, request)
        flag_obj = services.flag_update(flag=flag_obj, actor=self.actor(), **data)
        return Response(s.FlagOutput(flag_obj).data)

    @extend_schema(responses={204: None})
    def delete(self, request, project, flag):
        services.flag_delete(flag=selectors.flag_get(self.project(), flag), actor=self.actor())
        return Response(status=status.HTTP_204_NO_CONTENT)


class FlagAuditView(ProjectScoped):
    @extend_schema(parameters=[ORGANIZATION_PARAM, *PAGE_PARAMS],
                   responses=page_of(s.AuditOutput),
                   operation_id="v1_projects_flags_audit_list")
    def get(self, request, project, flag):
        flag_obj = selectors.flag_get(self.project(), flag)
        return paginated(self, selectors.audit_for_flag(flag_obj), s.AuditOutput)


def parse_if_match(header: str | None) -> int | None:
    """``If-Match: 3``, ``"3"`` or ``W/"3"`` → 3; absent or ``*`` → None; else ValueError."""
    if header is None or header.strip() == "*":
        return None
    value = header.strip()
    if value.startswith("W/"):
        value = value[2:]
    return int(value.strip('"'))


class FlagStateScoped(ProjectScoped):
    """Resolves ``<flag>`` in ``<env>`` for the caller: the base of the views under a state.
    (Only a base: a view answers the methods it defines and 405 to the others.)"""

    def state(self):
        project = self.project()
        environment = selectors.environment_get(project, self.kwargs["env"])
        return selectors.flag_state_get(selectors.flag_get(project, self.kwargs["flag"]),
                                        environment)


class FlagStateView(FlagStateScoped):
    """A flag's targeting in one environment; PATCH honours ``If-Match: <version>``."""

    def respond(self, state) -> Response:
        return Response(s.FlagStateOutput(state).data, headers={"ETag": f'"{state.version}"'})

    @extend_schema(parameters=[ORGANIZATION_PARAM], responses=s.FlagStateOutput)
    def get(self, request, project, env, flag):
        return self.respond(self.state())

    @extend_schema(request=s.FlagStateUpdateInput, responses=s.FlagStateOutput,
                   parameters=[OpenApiParameter("If-Match", str, OpenApiParameter.HEADER)])
    def patch(self, request, project, env, flag):
        state = self.state()
        try:
            expected = parse_if_match(request.headers.get("If-Match"))
        except ValueError:
            return validation_response({"If-Match": ["must be the state's version, e.g. \"3\""]})
        data = validated(s.FlagStateUpdateInput, request)
        state = services.flag_state_update(state=state, actor=self.actor(),
                                           expected_version=expected,
                                           **services.state_fields_from_api(data))
        return self.respond(state)


# --- segments -------------------------------------------------------------------------------

class SegmentListView(ProjectScoped):
    @extend_schema(parameters=[ORGANIZATION_PARAM, *PAGE_PARAMS],
                   responses=page_of(s.SegmentOutput),
                   operation_id="v1_projects_segments_list")
    def get(self, request, project):
        return paginated(self, self.project().segments.all(), s.SegmentOutput)

    @extend_schema(request=s.SegmentCreateInput, responses={201: s.SegmentOutput})
    def post(self, request, project):
        project_obj = self.project()
        data = validated(s.SegmentCreateInput, request)
        segment = services.segment_create(project=project_obj, actor=self.actor(), **data)
        return Response(s.SegmentOutput(segment).data, status=status.HTTP_201_CREATED)


class SegmentDetailView(ProjectScoped):
    @extend_schema(parameters=[ORGANIZATION_PARAM], responses=s.SegmentOutput)
    def get(self, request, project, segment):
        return Response(s.SegmentOutput(selectors.segment_get(self.project(), segment)).data)

    @extend_schema(request=s.SegmentUpdateInput, responses=s.SegmentOutput)
    def patch(self, request, project, segment):
        segment_obj = selectors.segment_get(self.project(), segment)
        data = validated(s.SegmentUpdateInput, request)
        segment_obj = services.segment_update(segment=segment_obj, actor=self.actor(), **data)
        return Response(s.SegmentOutput(segment_obj).data)

    @extend_schema(responses={204: None})
    def delete(self, request, project, segment):
        services.segment_delete(segment=selectors.segment_get(self.project(), segment),
                                actor=self.actor())
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- scheduled changes ----------------------------------------------------------------------

class ScheduledChangeListView(FlagStateScoped):
    """Upcoming and past scheduled changes of a flag in an environment; POST schedules one."""

    @extend_schema(parameters=[ORGANIZATION_PARAM, *PAGE_PARAMS],
                   responses=page_of(s.ScheduledChangeOutput),
                   operation_id="v1_projects_environments_flags_scheduled_changes_list")
    def get(self, request, project, env, flag):
        return paginated(self, selectors.scheduled_changes_for(self.state()),
                         s.ScheduledChangeOutput)

    @extend_schema(request=s.ScheduledChangeInput, responses={201: s.ScheduledChangeOutput})
    def post(self, request, project, env, flag):
        state = self.state()
        data = validated(s.ScheduledChangeInput, request)
        change = scheduling.scheduled_change_create(
            state=state, scheduled_at=data["scheduledAt"], change_type=data["changeType"],
            payload=data.get("payload"), actor=self.actor())
        return Response(s.ScheduledChangeOutput(change).data, status=status.HTTP_201_CREATED)


class ScheduledChangeDetailView(FlagStateScoped):
    @extend_schema(parameters=[ORGANIZATION_PARAM], responses=s.ScheduledChangeOutput)
    def get(self, request, project, env, flag, change_id):
        return Response(s.ScheduledChangeOutput(
            selectors.scheduled_change_get(self.state(), change_id)).data)

    @extend_schema(responses={204: None, 409: dict})
    def delete(self, request, project, env, flag, change_id):
        change = selectors.scheduled_change_get(self.state(), change_id)
        scheduling.scheduled_change_cancel(change=change, actor=self.actor())
        return Response(status=status.HTTP_204_NO_CONTENT)
