"""Sign-up and password reset mails through Django's SMTP backend to a real SMTP server (aiosmtpd) started by
the test, which reads what it received."""

import email
import re
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller

from tests.live.harness import free_port

pytestmark = pytest.mark.django_db


class Inbox:
    """aiosmtpd handler keeping every message it receives."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd calls handle_<SMTP command>
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        self.messages.append((envelope.mail_from, envelope.rcpt_tos, message))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp(settings):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.DEFAULT_FROM_EMAIL = "LeBRQ <no-reply@lebrq.example>"
    settings.PASSWORD_RESET_URL = "https://app.lebrq.example/reset?uid={uid}&token={token}"
    yield inbox
    controller.stop()


def test_sign_up_and_password_reset_over_smtp(api, smtp):
    signup = {"username": "meera", "email": "meera@example.com", "password": "kochi-backwaters-42"}
    assert api.post("/api/users/register", signup, format="json").status_code == 201
    assert api.post("/api/auth/password-reset", {"email": "meera@example.com"}, format="json").status_code == 202
    assert api.post("/api/auth/password-reset", {"email": "nobody@example.com"}, format="json").status_code == 202

    assert [(sender, recipients) for sender, recipients, _ in smtp.messages] == [
        ("no-reply@lebrq.example", ["meera@example.com"]),
        ("no-reply@lebrq.example", ["meera@example.com"]),
    ]
    welcome, reset = (message for _, _, message in smtp.messages)
    assert welcome["Subject"] == "Your LeBRQ account"
    assert reset["Subject"] == "Reset your LeBRQ password"
    body = reset.get_content()
    uid, token = re.search(r"https://app\.lebrq\.example/reset\?uid=([\w-]+)&token=([\w-]+)", body).groups()

    confirm = {"uid": uid, "token": token, "new_password": "monsoon-in-kochi-7"}
    assert api.post("/api/auth/password-reset/confirm", confirm, format="json").status_code == 200
    login = api.post("/api/auth/login", {"username": "meera", "password": "monsoon-in-kochi-7"}, format="json")
    assert login.status_code == 200
    replay = api.post("/api/auth/password-reset/confirm", confirm, format="json")
    assert replay.status_code == 400


def test_an_unreachable_mail_server_does_not_change_the_answer(api, settings, customer, caplog):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nothing listens
    response = api.post("/api/auth/password-reset", {"email": "asha@example.com"}, format="json")
    assert response.status_code == 202
    assert "[Mail] could not send 'Reset your LeBRQ password': ConnectionRefusedError" in caplog.text
