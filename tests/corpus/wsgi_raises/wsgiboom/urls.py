from django.http import HttpResponse
from django.urls import path


def hello(request):
    return HttpResponse("wsgi_raises ok")


urlpatterns = [path("", hello)]
