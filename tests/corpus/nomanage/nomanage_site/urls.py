from django.http import HttpResponse
from django.urls import path


def hello(request):
    return HttpResponse("nomanage ok")


urlpatterns = [path("", hello)]
