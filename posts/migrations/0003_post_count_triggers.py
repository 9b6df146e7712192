# Sort indexes for the admin's posts list, and the triggers that keep
# users_user.post_count in step with the posts table (see posts/triggers.py).

from django.db import migrations, models


def install_triggers(apps, schema_editor):
    from posts import triggers

    triggers.install(schema_editor.connection)


def uninstall_triggers(apps, schema_editor):
    from posts import triggers

    triggers.uninstall(schema_editor.connection)


class Migration(migrations.Migration):

    dependencies = [
        ('posts', '0002_post_search'),
        ('users', '0004_user_post_count'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='post',
            index=models.Index(fields=['title', 'id'], name='posts_post_title_idx'),
        ),
        migrations.AddIndex(
            model_name='post',
            index=models.Index(fields=['updated_at', 'id'], name='posts_post_updated_idx'),
        ),
        migrations.RunPython(install_triggers, uninstall_triggers),
    ]
