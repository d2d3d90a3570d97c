"""Passwords out of every message: URLs redacted, drivers' errors scrubbed (item 9)."""

from __future__ import annotations

import re

import pytest

from layerlr.study.storage import StorageURLError, redact, resolve, scrub


def test_passwords_are_redacted_whole_even_with_an_unescaped_at_sign():
    assert redact("postgresql://me:s3cret@db:5432/x") == "postgresql://me:***@db:5432/x"
    assert redact("postgresql+psycopg2://me:s3cret@db/x") == "postgresql+psycopg2://me:***@db/x"
    assert redact("postgresql://me:pa@ss/w@rd@db/x") == "postgresql://me:***@db/x"
    assert redact("redis://:hunter2@cache:6379/0") == "redis://:***@cache:6379/0"
    assert redact("sqlite:////tmp/a.db") == "sqlite:////tmp/a.db"
    assert redact("/tmp/results/optuna.log") == "/tmp/results/optuna.log"


def test_fragments_of_a_password_are_scrubbed_from_driver_messages():
    url = "postgresql://me:top@secret@db.example/x"
    message = 'could not translate host name "secret@db.example" to address'
    assert "secret" not in scrub(message, url)
    assert "db.example" in scrub(message, url)


def test_a_parser_message_quoting_part_of_a_password_is_scrubbed():
    url = "redis://:Zq9Se:cr#et@127.0.0.1:6399/0"
    message = "Port could not be cast to integer value as 'Zq9Se:cr'"
    assert "Zq9Se" not in scrub(message, url) and ":cr'" not in scrub(message, url)


PASSWORDS = ["Zq9Se:cr#et", "pQ4s@s5W/wX@Rd7", "a1B#B2c?c3D:D4e/e5F@F6g", "Xy7:Vw9#Ut8@Sr6",
             "h8K#K1z:1234/9qZ@qZ4"]
SHAPES = ["redis://:{pw}@127.0.0.1:6399/0", "redis://user:{pw}@cache/0",
          "rediss://:{pw}@cache:99999/0", "postgresql://me:{pw}@db:5432/x",
          "postgresql+psycopg2://me:{pw}@db:70000/x", "mysql://me:{pw}@[::1/x",
          "redis:/:{pw}@cache/0", "frob://u:{pw}@host/x"]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("password", PASSWORDS)
def test_no_message_about_a_malformed_url_shows_any_piece_of_its_password(tmp_path, shape,
                                                                          password):
    """The issue's example gave "Port could not be cast to integer value as 'Zq9Se:cr'"."""
    url = shape.format(pw=password)
    try:
        message = resolve(tmp_path, url).shown  # parsed whole (':' and '#' are allowed)
    except StorageURLError as err:
        message = str(err)
    for piece in {password, *re.split(r"[:#@/?]", password)} - {""}:
        assert piece not in message, (piece, message)
