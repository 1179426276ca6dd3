from django.http import HttpResponse
from django.urls import path


def hello(request):
    return HttpResponse("shadowed settings ok")


urlpatterns = [path("", hello)]
