from django.urls import path

from nanomark.computations import views

urlpatterns = [
    path(
        "monte-carlo/<int:pk>/", views.MonteCarloRunDetailView.as_view(), name="montecarlo-detail"
    ),
    path(
        "monte-carlo/<int:pk>/rendered.png",
        views.monte_carlo_file,
        {"field": "rendered_image"},
        name="montecarlo-rendered",
    ),
    path(
        "monte-carlo/<int:pk>/positions.csv",
        views.monte_carlo_file,
        {"field": "final_positions"},
        name="montecarlo-positions",
    ),
    path("xtb/", views.XtbOverviewView.as_view(), name="xtb-list"),
    path("xtb/<int:pk>/", views.XtbCalculationDetailView.as_view(), name="xtb-detail"),
    path("xtb/<int:pk>/input.xyz", views.xtb_file, {"kind": "input"}, name="xtb-input"),
    path("xtb/<int:pk>/optimized.xyz", views.xtb_file, {"kind": "optimized"}, name="xtb-optimized"),
    path("xtb/<int:pk>/log.txt", views.xtb_file, {"kind": "log"}, name="xtb-log"),
]
