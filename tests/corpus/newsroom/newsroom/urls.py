from django.urls import path

from newsroom import views

urlpatterns = [path("publish/", views.publish)]
