"""Organizations and memberships move here from the flags app, keeping their tables.

Only Django's idea of which app owns the models changes (``SeparateDatabaseAndState``): the
rows stay in ``flags_organization`` and ``flags_membership``, which flags' first migration
creates, so an existing database migrates without copying or losing a row.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("flags", "0002_scheduled_changes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Organization",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True,
                                                   serialize=False, verbose_name="ID")),
                        ("slug", models.SlugField(max_length=100, unique=True)),
                        ("name", models.CharField(max_length=200)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                    ],
                    options={"db_table": "flags_organization", "ordering": ["slug"]},
                ),
                migrations.CreateModel(
                    name="Membership",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True,
                                                   serialize=False, verbose_name="ID")),
                        ("role", models.CharField(
                            choices=[("viewer", "Viewer"), ("editor", "Editor"),
                                     ("admin", "Admin")],
                            default="viewer", max_length=10)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("organization", models.ForeignKey(
                            on_delete=django.db.models.deletion.CASCADE,
                            related_name="memberships", to="tenancy.organization")),
                        ("user", models.ForeignKey(
                            on_delete=django.db.models.deletion.CASCADE,
                            related_name="memberships", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "db_table": "flags_membership",
                        "constraints": [models.UniqueConstraint(
                            fields=("user", "organization"), name="membership_unique_user_org")],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
