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
]
