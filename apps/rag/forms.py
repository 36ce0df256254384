"""The upload form. Size, type and emptiness are the service's checks (one set of rules
and messages for the UI and the API), so the field itself accepts any file."""

from __future__ import annotations

from django import forms

from apps.rag.parsing import TYPES

ACCEPT = ",".join(ext for t in TYPES for ext in t.extensions)


class UploadForm(forms.Form):
    file = forms.FileField(
        label="File",
        allow_empty_file=True,  # the service refuses it with a better message
        widget=forms.ClearableFileInput(attrs={"accept": ACCEPT}),
        error_messages={"required": "Choose a file to upload."},
    )
