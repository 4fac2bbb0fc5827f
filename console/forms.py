"""The console's sign-in form."""

from django.contrib.auth.forms import AuthenticationForm


class EmailAuthenticationForm(AuthenticationForm):
    """Django's sign-in form for members, who sign in with their email address.

    Emails are stored in lower case (``crm.services.workspaces``); a member typing theirs
    with capitals still signs in.
    """

    def clean_username(self) -> str:
        return self.cleaned_data["username"].strip().lower()
