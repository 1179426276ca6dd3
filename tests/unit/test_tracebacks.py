"""Reading a failed child's output: the exception that ended it and the user's own frames, without the
wall of Daphne, importlib and tandem frames around them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tandem.tracebacks import (
    display_path,
    exception_line,
    excerpt,
    is_library_file,
    parse_crash,
    short_traceback,
    where_in,
)

LIBRARIES = ("/usr/lib/python3.11/", "/venv/lib/python3.11/site-packages/", "/src/tandem/")

DAPHNE_IMPORT_FAILURE = """\
loading the ASGI application
Traceback (most recent call last):
  File "<frozen runpy>", line 198, in _run_module_as_main
  File "/src/tandem/runtime/daphne.py", line 60, in <module>
    main(sys.argv[1:])
  File "/venv/lib/python3.11/site-packages/daphne/cli.py", line 255, in run
    application = self.load_asgi_app(args.application)
                  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/usr/lib/python3.11/importlib/__init__.py", line 126, in import_module
    return _bootstrap._gcd_import(name[level:], package, level)
  File "<frozen importlib._bootstrap>", line 1204, in _gcd_import
  File "/home/me/site/mysite/asgi.py", line 12, in <module>
    from chat.routing import websocket_urlpatterns
  File "/home/me/site/chat/routing.py", line 3, in <module>
    from .consumers import ChatConsumer
ImportError: cannot import name 'ChatConsumer' from 'chat.consumers' (/home/me/site/chat/consumers.py)
""".splitlines()


def test_the_exception_and_the_users_own_frames() -> None:
    crash = parse_crash(DAPHNE_IMPORT_FAILURE, LIBRARIES)
    assert crash is not None
    assert crash.exception.startswith("ImportError: cannot import name 'ChatConsumer'")
    assert [(f.file, f.line) for f in crash.frames] == [
        ("/home/me/site/mysite/asgi.py", 12),
        ("/home/me/site/chat/routing.py", 3),
    ]
    assert crash.frames[0].code == "from chat.routing import websocket_urlpatterns"
    assert crash.summary(Path("/home/me/site")).endswith("(chat/routing.py, line 3)")


def test_excerpt_keeps_only_what_the_user_can_act_on() -> None:
    shown = excerpt(DAPHNE_IMPORT_FAILURE, LIBRARIES)
    assert shown == [
        'File "/home/me/site/mysite/asgi.py", line 12',
        "  from chat.routing import websocket_urlpatterns",
        'File "/home/me/site/chat/routing.py", line 3',
        "  from .consumers import ChatConsumer",
        "ImportError: cannot import name 'ChatConsumer' from 'chat.consumers' (/home/me/site/chat/consumers.py)",
    ]


def test_chained_exceptions_report_the_one_raised_in_the_users_code() -> None:
    lines = [
        "Traceback (most recent call last):",
        '  File "/home/me/site/mysite/settings.py", line 4, in <module>',
        "    KEY = os.environ['SECRET']",
        "KeyError: 'SECRET'",
        "",
        "The above exception was the direct cause of the following exception:",
        "",
        "Traceback (most recent call last):",
        '  File "/venv/lib/python3.11/site-packages/django/conf/__init__.py", line 81, in __getattr__',
        "django.core.exceptions.ImproperlyConfigured: The SECRET_KEY setting must not be empty.",
    ]
    crash = parse_crash(lines, LIBRARIES)
    assert crash is not None
    # Django's ImproperlyConfigured only says that the settings failed; the KeyError says why, and where.
    assert crash.exception == "KeyError: 'SECRET'"
    assert crash.summary(Path("/home/me/site")) == "KeyError: 'SECRET' (mysite/settings.py, line 4)"


def test_without_the_users_code_the_last_exception() -> None:
    lines = [
        "Traceback (most recent call last):",
        '  File "/venv/lib/python3.11/site-packages/django/conf/__init__.py", line 81, in __getattr__',
        "django.core.exceptions.ImproperlyConfigured: The SECRET_KEY setting must not be empty.",
    ]
    crash = parse_crash(lines, LIBRARIES)
    assert crash is not None
    assert crash.frames == ()  # only library frames: the summary is the exception alone
    assert crash.summary() == crash.exception


@pytest.mark.parametrize(
    "lines",
    [
        [],
        ["Starting server at unix:/tmp/x.sock", "Killed"],
        ["Traceback (most recent call last):", '  File "/home/me/a.py", line 1, in <module>'],  # cut off
    ],
)
def test_no_traceback_means_no_crash(lines: list[str]) -> None:
    assert parse_crash(lines, LIBRARIES) is None


def test_without_a_traceback_the_excerpt_is_the_tail() -> None:
    lines = [f"line {n}" for n in range(30)]
    assert excerpt(lines, LIBRARIES) == lines[-10:]


def test_an_exception_without_a_message() -> None:
    crash = parse_crash(
        [
            "Traceback (most recent call last):",
            '  File "/home/me/app.py", line 9, in run',
            "KeyboardInterrupt",
        ],
        LIBRARIES,
    )
    assert crash is not None
    assert crash.exception == "KeyboardInterrupt"
    assert crash.where is not None and crash.where.code == ""


@pytest.mark.parametrize(
    ("file", "library"),
    [
        ("<frozen importlib._bootstrap>", True),
        ("/usr/lib/python3.11/importlib/__init__.py", True),
        ("/anywhere/lib/python3.12/site-packages/channels/routing.py", True),
        ("/usr/lib/python3/dist-packages/django/core/asgi.py", True),
        ("/src/tandem/runtime/asgi.py", True),
        ("/home/me/site/mysite/asgi.py", False),
    ],
)
def test_library_files(file: str, library: bool) -> None:
    assert is_library_file(file, LIBRARIES) is library


def test_display_path_is_relative_inside_the_directory(tmp_path: Path) -> None:
    assert display_path(str(tmp_path / "mysite" / "asgi.py"), tmp_path) == "mysite/asgi.py"
    assert display_path("/elsewhere/asgi.py", tmp_path) == "/elsewhere/asgi.py"


def test_exception_raised_here_names_the_projects_line(tmp_path: Path) -> None:
    source = tmp_path / "mysite" / "settings.py"
    source.parent.mkdir()
    source.write_text("DEBUG = True\nraise ValueError('first line\\nthe point')\n")
    try:
        exec(compile(source.read_text(), str(source), "exec"), {})
    except ValueError as exc:
        assert exception_line(exc) == "ValueError: the point"
        assert where_in(exc, tmp_path) == " (mysite/settings.py, line 2)"
    else:
        pytest.fail("the settings did not raise")
    try:
        compile("x = (\n", str(source), "exec")
    except SyntaxError as exc:
        assert exception_line(exc) == "SyntaxError: '(' was never closed"
        assert where_in(exc, tmp_path) == " (mysite/settings.py, line 1)"


def _worker_traceback(pid: int) -> list[str]:
    return [
        f"[2026-11-30 17:24:11 -0600] [{pid}] [ERROR] Exception in worker process",
        "Traceback (most recent call last):",
        '  File "/venv/lib/python3.11/site-packages/gunicorn/arbiter.py", line 752, in spawn_worker',
        "    worker.init_process()",
        '  File "/usr/lib/python3.11/importlib/__init__.py", line 126, in import_module',
        '  File "/home/me/site/mysite/wsgi.py", line 7, in <module>',
        "    application = wrap_with_sentry(application)",
        "                  ^^^^^^^^^^^^^^^^",
        "NameError: name 'wrap_with_sentry' is not defined",
        "name 'wrap_with_sentry' is not defined",
        f"[2026-11-30 17:24:11 -0600] [{pid}] [INFO] Worker exiting (pid: {pid})",
    ]


HALT = [
    "Traceback (most recent call last):",
    '  File "/venv/lib/python3.11/site-packages/gunicorn/arbiter.py", line 683, in reap_workers',
    "    raise HaltServer(reason, self.WORKER_BOOT_ERROR)",
    "gunicorn.errors.HaltServer: <HaltServer 'Worker failed to boot.' 3>",
    "",
    "During handling of the above exception, another exception occurred:",
    "",
    "Traceback (most recent call last):",
    '  File "<frozen runpy>", line 198, in _run_module_as_main',
    '  File "/venv/lib/python3.11/site-packages/gunicorn/arbiter.py", line 683, in reap_workers',
    "    raise HaltServer(reason, self.WORKER_BOOT_ERROR)",
    "gunicorn.errors.HaltServer: <HaltServer 'Worker failed to boot.' 3>",
]


def test_gunicorn_workers_that_failed_alike_are_one_error_not_the_halt() -> None:
    lines = [line for pid in (11, 12, 13, 14) for line in _worker_traceback(pid)] + HALT
    crash = parse_crash(lines, LIBRARIES)
    assert crash is not None
    assert crash.exception == "NameError: name 'wrap_with_sentry' is not defined"
    assert crash.copies == 4
    assert crash.summary(Path("/home/me/site")).endswith("(mysite/wsgi.py, line 7)")
    shown = excerpt(lines, LIBRARIES)
    assert shown == [
        'File "/home/me/site/mysite/wsgi.py", line 7',
        "  application = wrap_with_sentry(application)",
        "NameError: name 'wrap_with_sentry' is not defined",
        "(the same traceback 4 times: once per worker process)",
    ]
    assert not any("HaltServer" in line for line in shown)


def test_different_worker_errors_are_not_counted_as_copies() -> None:
    other = [line.replace("line 7", "line 8") for line in _worker_traceback(12)]
    crash = parse_crash(_worker_traceback(11) + other + HALT, LIBRARIES)
    assert crash is not None and crash.copies == 1 and crash.where is not None and crash.where.line == 7


def test_the_short_traceback_keeps_the_users_frames_and_reads_back(tmp_path: Path) -> None:
    user_file = tmp_path / "wsgi.py"
    user_file.write_text("application = undefined_name\n")
    try:
        exec(compile(user_file.read_text(), str(user_file), "exec"), {})
    except NameError as exc:
        text = short_traceback(exc, (*LIBRARIES, str(Path(__file__).parent) + "/"))
    lines = text.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert f'File "{user_file}", line 1' in text
    assert __file__ not in text  # the test's own frame is a "library" here
    crash = parse_crash(lines, LIBRARIES)
    assert crash is not None and crash.summary(tmp_path) == (
        "NameError: name 'undefined_name' is not defined (wsgi.py, line 1)"
    )


def test_the_short_traceback_keeps_the_chain(tmp_path: Path) -> None:
    settings = tmp_path / "settings.py"
    settings.write_text("import os\nKEY = os.environ['TANDEM_TEST_UNSET_VARIABLE']\n")
    try:
        try:
            exec(compile(settings.read_text(), str(settings), "exec"), {})
        except KeyError as exc:
            raise RuntimeError("settings failed") from exc
    except RuntimeError as exc:
        text = short_traceback(exc, (*LIBRARIES, str(Path(__file__).parent) + "/"))
    assert "The above exception was the direct cause of the following exception:" in text
    assert text.count("Traceback (most recent call last):") == 2
    crash = parse_crash(text.splitlines(), LIBRARIES)
    assert crash is not None
    assert crash.summary(tmp_path) == "KeyError: 'TANDEM_TEST_UNSET_VARIABLE' (settings.py, line 2)"
