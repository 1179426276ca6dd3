from django.http import HttpResponse

PAGE = '<!doctype html><link rel="stylesheet" href="/static/notes/notes.css"><h1>Notes</h1>'


def home(request):
    return HttpResponse(PAGE)


def status(request):
    return HttpResponse("ok")
