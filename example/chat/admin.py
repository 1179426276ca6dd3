from django.contrib import admin

from .models import Message, Presence, Room


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ["name", "created"]
    search_fields = ["name"]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["id", "room", "user", "text", "client_id", "created"]
    list_filter = ["room"]
    raw_id_fields = ["room", "user"]


@admin.register(Presence)
class PresenceAdmin(admin.ModelAdmin):
    list_display = ["room", "channel_name", "created"]
