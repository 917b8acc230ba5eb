"""Rollups read the batches' digests, not the raw rows: the raw tables' timestamp indexes (for
recounting distinct contexts from raw rows) go, and one cursor over the payloads replaces the
two over the raw tables. Payloads stored before this have no digest: they were counted by the
old cursors (the rollup skips them)."""

from django.db import migrations, models


def payload_cursor(apps, schema_editor):
    cursors = apps.get_model("analytics", "RollupCursor")
    payloads = apps.get_model("analytics", "IngestPayload")
    newest = payloads.objects.order_by("-id").values_list("id", flat=True).first() or 0
    cursors.objects.filter(name__in=["evaluations", "custom"]).delete()
    cursors.objects.update_or_create(name="payloads", defaults={"last_id": newest})


def members_uncompressed(apps, schema_editor):
    """Context hashes do not compress: PostgreSQL is told not to try (it would, on every write
    of a set over 2 kB)."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE analytics_contextcount "
                              "ALTER COLUMN members SET STORAGE EXTERNAL")


class Migration(migrations.Migration):

    dependencies = [
        ('analytics', '0003_distinct_from_raw'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='customevent',
            name='analytics_custom_ts',
        ),
        migrations.RemoveIndex(
            model_name='evaluationevent',
            name='analytics_eval_ts',
        ),
        migrations.AddField(
            model_name='contextcount',
            name='members',
            field=models.BinaryField(blank=True, default=b''),
        ),
        migrations.AddField(
            model_name='ingestpayload',
            name='digest',
            field=models.BinaryField(default=b''),
        ),
        migrations.RunPython(payload_cursor, migrations.RunPython.noop),
        migrations.RunPython(members_uncompressed, migrations.RunPython.noop),
    ]
