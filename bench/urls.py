"""The product's URLs plus the bare baseline views (bench only, never in config.urls)."""

from django.urls import path

from config.urls import handler400, handler403, handler404, handler500  # noqa: F401
from config.urls import urlpatterns as product_urlpatterns

from .views import bare_insert, bare_page, bare_sql_page, guarded_sql_page

urlpatterns = [
    path("bench/bare-insert/", bare_insert),
    path("bench/page/<str:key>/", bare_page),
    path("bench/sql/<str:key>/", bare_sql_page),
    path("bench/guarded-sql/<str:key>/", guarded_sql_page),
    *product_urlpatterns,
]
