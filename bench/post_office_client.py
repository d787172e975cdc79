"""django-post-office as its users run it: `mail.send()` (queued), then send_queued_mail.

Runs inside the peers' virtual environment (bench/.peers), driven by bench/dispatch.py:

    bench/.peers/bin/python bench/post_office_client.py setup --dir D --port P [--tuned]
    bench/.peers/bin/python bench/post_office_client.py queue --dir D -n 5000
    (cd D && DJANGO_SETTINGS_MODULE=bench_settings bench/.peers/bin/python -m django \
        send_queued_mail)
    bench/.peers/bin/python bench/post_office_client.py count --dir D

`setup` writes a tiny settings module (SQLite, the SMTP backend with STARTTLS and login to the
given port) and migrates; defaults are django-post-office's own unless `--tuned` (50 threads,
batch 1,000). The bench sets SSL_CERT_FILE so Django's default TLS context trusts the sink.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

SETTINGS = """\
SECRET_KEY = "bench"
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "post_office"]
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": {db!r}}}}}
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = "127.0.0.1"
EMAIL_PORT = {port}
EMAIL_HOST_USER = {user!r}
EMAIL_HOST_PASSWORD = {password!r}
EMAIL_USE_TLS = True
DEFAULT_FROM_EMAIL = "remetente@example.com"
TEMPLATES = [{{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}}]
{tuning}
"""
TUNED = 'POST_OFFICE = {"THREADS_PER_PROCESS": 50, "BATCH_SIZE": 1000}'


def _django(directory: str) -> None:
    sys.path.insert(0, directory)
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench_settings"
    import django

    django.setup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["setup", "queue", "count"])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port", type=int)
    parser.add_argument("--user", default="bench")
    parser.add_argument("--password", default="bench-secret")
    parser.add_argument("--tuned", action="store_true")
    parser.add_argument("-n", "--messages", type=int, default=1000)
    args = parser.parse_args()
    directory = args.dir
    if args.command == "setup":
        Path(directory, "bench_settings.py").write_text(
            SETTINGS.format(
                db=str(Path(directory, "post_office.db")),
                port=args.port,
                user=args.user,
                password=args.password,
                tuning=TUNED if args.tuned else "",
            )
        )
        _django(directory)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        return
    _django(directory)
    if args.command == "queue":
        from django.db import transaction
        from post_office import mail

        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _common import HTML_BODY, SUBJECT, TEXT_BODY, recipient

        # One transaction only so that queueing, which is not what is measured, is quick.
        with transaction.atomic():
            for i in range(args.messages):
                mail.send(
                    recipients=[recipient(i)],
                    sender="remetente@example.com",
                    subject=SUBJECT,
                    message=TEXT_BODY,
                    html_message=HTML_BODY,
                    priority="medium",  # queued; only "now" sends at once
                )
        return
    from django.db.models import Count
    from post_office.models import STATUS, Email

    names = {value: name for name, value in STATUS._asdict().items()}
    rows = Email.objects.values("status").annotate(n=Count("id"))
    print(json.dumps({names.get(r["status"], str(r["status"])): r["n"] for r in rows}))


if __name__ == "__main__":
    main()
