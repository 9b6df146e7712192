import os

from django.core.wsgi import get_wsgi_application
from django.urls import reverse

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

application = get_wsgi_application()

# Import the URLconf (and with it every view, DRF and the schema generator) now,
# while the worker starts, instead of inside the first request each worker
# serves: that request would otherwise wait 150+ ms, under load long enough to
# time out.
reverse("api-root")
