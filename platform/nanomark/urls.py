"""URL routes: the lab UI, the admin, and login."""

import plotly
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from nanomark.accounts.labcontext import switch_lab
from nanomark.results.samplelist import SampleListView
from nanomark.vendor import plotly_js

urlpatterns = [
    # The home page: the sample list, with the analyses' columns (so the results app's).
    path("", SampleListView.as_view(), name="home"),
    path("", include("nanomark.samples.urls")),
    path("images/", include("nanomark.imaging.urls")),
    path("computations/", include("nanomark.computations.urls")),
    path("analysis/", include("nanomark.results.urls")),
    path("search/", include("nanomark.search.urls")),
    path("models/", include("nanomark.registry.urls")),
    path("exports/", include("nanomark.exports.urls")),
    path("api/", include("nanomark.api.urls")),
    path(f"vendor/plotly-{plotly.__version__}.min.js", plotly_js, name="plotly-js"),
    path("lab/", switch_lab, name="switch-lab"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
]
