from django.http import HttpResponse
from django.urls import path


def hello(request):
    return HttpResponse("asgi_raises ok")


urlpatterns = [path("", hello)]
