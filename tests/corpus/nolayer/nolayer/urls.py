from django.urls import path

from nolayer import views

urlpatterns = [path("publish/", views.publish)]
