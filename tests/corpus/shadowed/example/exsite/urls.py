from django.http import HttpResponse
from django.urls import path


def hello(request):
    return HttpResponse("example project ok")


urlpatterns = [path("", hello)]
