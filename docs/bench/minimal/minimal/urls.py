from django.urls import path

from minimal import views

urlpatterns = [path("", views.hello)]
