"""factory_boy factories: organization → project → environment → flag."""

import factory
from django.contrib.auth import get_user_model

from flags.models import Environment, Flag, FlagState, Project
from tenancy.models import Membership, Organization


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-123456")


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    slug = factory.Sequence(lambda n: f"org{n}")
    name = factory.LazyAttribute(lambda o: o.slug.upper())


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = "viewer"


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    organization = factory.SubFactory(OrganizationFactory)
    key = factory.Sequence(lambda n: f"project{n}")
    name = factory.LazyAttribute(lambda o: o.key)


class EnvironmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Environment

    project = factory.SubFactory(ProjectFactory)
    key = factory.Sequence(lambda n: f"env{n}")
    name = factory.LazyAttribute(lambda o: o.key)


__all__ = ["UserFactory", "OrganizationFactory", "MembershipFactory", "ProjectFactory",
           "EnvironmentFactory", "Flag", "FlagState"]
