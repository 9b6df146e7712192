from django.urls import path

from posts import views

app_name = "posts"

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    path("posts/new/", views.PostCreateView.as_view(), name="create"),
    path("posts/<int:pk>/", views.PostDetailView.as_view(), name="detail"),
    path("posts/<int:pk>/edit/", views.PostUpdateView.as_view(), name="update"),
    path("posts/<int:pk>/delete/", views.PostDeleteView.as_view(), name="delete"),
]
