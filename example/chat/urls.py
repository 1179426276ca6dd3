from django.urls import path

from . import views

urlpatterns = [
    path("", views.index, name="index"),
    path("rooms/<slug:room>/", views.room, name="room"),
    path("rooms/<slug:room>/upload/", views.upload, name="room-upload"),
    path("api/rooms/<slug:room>/messages/", views.messages_api, name="room-messages-api"),
    path("signup/", views.signup, name="signup"),
    path("healthz", views.healthz, name="healthz"),
    path("whoami", views.whoami, name="whoami"),
]
