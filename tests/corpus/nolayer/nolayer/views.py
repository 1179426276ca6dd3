from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def publish(request):
    text = request.GET.get("text", "")
    async_to_sync(get_channel_layer().group_send)("news", {"type": "news.item", "text": text})
    return HttpResponse("published")
