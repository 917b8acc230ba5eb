# Distinct contexts are recounted from the raw rows (analytics.rollups): SeenContext goes, and
# the raw tables get the timestamp index the recount reads by.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('analytics', '0002_rollups'),
        ('flags', '0003_organization_to_tenancy'),
    ]

    operations = [
        migrations.DeleteModel(
            name='SeenContext',
        ),
        migrations.AddIndex(
            model_name='customevent',
            index=models.Index(fields=['timestamp'], name='analytics_custom_ts'),
        ),
        migrations.AddIndex(
            model_name='evaluationevent',
            index=models.Index(fields=['timestamp'], name='analytics_eval_ts'),
        ),
    ]
