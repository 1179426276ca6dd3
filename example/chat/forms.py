from django import forms

from .models import ROOM_NAME_MAX_LENGTH


class OpenRoomForm(forms.Form):
    room = forms.SlugField(
        max_length=ROOM_NAME_MAX_LENGTH,
        label="Room",
        help_text="Letters, digits, hyphens and underscores.",
        widget=forms.TextInput(attrs={"placeholder": "lobby", "autocomplete": "off"}),
    )
