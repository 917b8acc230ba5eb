"""The flags app hands Organization and Membership to tenancy (see tenancy 0001).

State only: the foreign keys keep pointing at the same table. The content types move with the
models, so staff permissions granted on organizations and memberships still hold.
"""

import django.db.models.deletion
from django.db import migrations, models

MOVED = ["organization", "membership"]


def content_types_to(app_label_from: str, app_label_to: str):
    def move(apps, schema_editor):
        ContentType = apps.get_model("contenttypes", "ContentType")
        taken = set(ContentType.objects.filter(app_label=app_label_to, model__in=MOVED)
                    .values_list("model", flat=True))
        ContentType.objects.filter(app_label=app_label_from, model__in=MOVED).exclude(
            model__in=taken).update(app_label=app_label_to)
    return move


class Migration(migrations.Migration):

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("flags", "0002_scheduled_changes"),
        ("tenancy", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="project",
                    name="organization",
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                            related_name="projects", to="tenancy.organization"),
                ),
                migrations.AlterField(
                    model_name="auditlog",
                    name="organization",
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                            related_name="+", to="tenancy.organization"),
                ),
                migrations.DeleteModel(name="Membership"),
                migrations.DeleteModel(name="Organization"),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_types_to("flags", "tenancy"),
                             content_types_to("tenancy", "flags")),
    ]
