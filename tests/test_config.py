"""The config file: defaults, errors that name the key and line, overrides, paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.config import Settings, iter_settings, load, loads
from aggregator.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def parse(text: str, tmp_path: Path, environ: dict[str, str] | None = None) -> Settings:
    return loads(text, source="config.toml", base_dir=tmp_path, environ=environ or {})


def test_an_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    settings = parse("", tmp_path)
    assert settings.server.port == 8080 and settings.mail.transport == "maildir"
    assert settings.storage.url == f"sqlite:///{tmp_path / 'var/aggregator.db'}"
    assert settings.mail.maildir == str(tmp_path / "var/mail")


def test_the_bundled_config_loads_and_points_at_the_bundled_feeds() -> None:
    settings = load(ROOT / "config.toml", environ={})
    assert len(settings.feeds) >= 4
    for feed in settings.feeds:
        assert feed.url.startswith("file://")
        assert Path(feed.url.removeprefix("file://")).is_file()
    assert settings.digest("daily") is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[fetch]\ntimeout = 5\nspeed = 3\n", "config.toml:3: unknown key 'speed' in [fetch]"),
        (
            '[server]\nport = "eighty"\n',
            "config.toml:2: 'server.port' must be an integer, got 'eighty'",
        ),
        (
            "[fetch]\nallow_private_networks = 1\n",
            "config.toml:2: 'fetch.allow_private_networks' must be true or false",
        ),
        (
            '[[feeds]]\nurl = "https://a.example/f"\n[[feeds]]\ntitle = "x"\n',
            "config.toml:3: missing required key 'url' in [feeds[1]]",
        ),
        (
            '[[feeds]]\nurl = "https://a.example/f"\ntags = "news"\n',
            "config.toml:3: 'feeds[0].tags' must be a list",
        ),
        ("[bogus]\nx = 1\n", "config.toml:1: unknown key 'bogus' in the top level"),
        ('[mail]\ntransport = "pigeon"\n', "config.toml:2: mail.transport must be"),
        (
            "[mail.smtp]\nconnections = 0\n",
            "config.toml:2: mail.smtp.connections must be at least 1",
        ),
        (
            '[[digests]]\nname = "d"\ntimezone = "Mars/Olympus"\n',
            "config.toml:3: unknown time zone 'Mars/Olympus'",
        ),
        ('[[digests]]\nname = "d"\nschedule = "0 25 * * *"\n', "config.toml:3: invalid cron"),
        (
            '[[digests]]\nname = "d"\n[[digests]]\nname = "d"\n',
            "config.toml:4: digest name 'd' is used twice",
        ),
        (
            '[[feeds]]\nurl = "ftp://a.example/f"\n',
            "config.toml:2: feeds[0].url 'ftp://a.example/f' is not http",
        ),
        (
            "[mail]\nconfirmations_per_hour = -1\n",
            "config.toml:2: mail.confirmations_per_hour must be 0 (no limit) or more",
        ),
        (
            '[server]\ntrusted_proxies = ["proxy.local"]\n',
            "config.toml:2: server.trusted_proxies[0] 'proxy.local' is not an IP address",
        ),
    ],
)
def test_errors_name_the_line_and_the_key(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(text, tmp_path)
    assert str(caught.value).startswith(expected), str(caught.value)
    assert "\n" not in str(caught.value)


def test_bad_toml_is_one_line_with_its_position(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config.toml: invalid TOML: .*line 2"):
        parse("[server]\nport = = 1\n", tmp_path)


def test_a_missing_file_says_how_to_point_at_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found .*--config"):
        load(tmp_path / "nope.toml")


def test_environment_overrides_scalars(tmp_path: Path) -> None:
    settings = parse(
        "[server]\nport = 8080\n",
        tmp_path,
        {
            "AGGREGATOR_SERVER_PORT": "9090",
            "AGGREGATOR_FETCH_ALLOW_PRIVATE_NETWORKS": "true",
            "AGGREGATOR_MAIL_FROM": "Me <me@x.example>",
            "AGGREGATOR_STORAGE_URL": "sqlite:///rel.db",
        },
    )
    assert settings.server.port == 9090
    assert settings.fetch.allow_private_networks is True
    assert settings.mail.sender == "Me <me@x.example>"
    assert settings.storage.url == f"sqlite:///{tmp_path / 'rel.db'}"


def test_a_bad_environment_value_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="AGGREGATOR_SERVER_PORT has an invalid value 'x'"):
        parse("", tmp_path, {"AGGREGATOR_SERVER_PORT": "x"})


def test_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    settings = parse(
        '[[feeds]]\nurl = "feeds/a.xml"\n[[feeds]]\nurl = "https://a.example/f"\n'
        '[publish]\noutput_dir = "out"\n',
        tmp_path,
    )
    assert settings.feeds[0].url == (tmp_path / "feeds/a.xml").as_uri()
    assert settings.feeds[1].url == "https://a.example/f"
    assert settings.publish.output_dir == str(tmp_path / "out")


def test_secrets_come_from_the_environment_only(tmp_path: Path) -> None:
    text = '[mail.smtp]\npassword_env = "MY_SMTP_SECRET"\n'
    assert parse(text, tmp_path, {"MY_SMTP_SECRET": "s3cret"}).mail.smtp.password == "s3cret"
    assert "s3cret" not in repr(parse(text, tmp_path, {"MY_SMTP_SECRET": "s3cret"}))
    with pytest.raises(ConfigError, match="unknown key 'password'"):
        parse('[mail.smtp]\npassword = "inline"\n', tmp_path)


def test_every_setting_is_documented_in_the_bundled_config() -> None:
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    for key, _default, help_text in iter_settings():
        assert help_text, f"{key} has no help text"
        name = key.rsplit(".", 1)[-1]
        section = key.rsplit(".", 1)[0] if "." in key else ""
        assert f"\n{name} = " in text, f"{key} is missing from config.toml"
        head = section.split(".")[0]
        assert f"[{head}]" in text or f"[[{head}]]" in text, f"section of {key} missing"


def test_feed_identity_policy_is_validated_and_looked_up(tmp_path: Path) -> None:
    settings = parse('[[feeds]]\nurl = "https://a.example/f"\nidentity = "link"\n', tmp_path)
    assert settings.identity_of("https://a.example/f") == "link"
    assert settings.identity_of("https://other.example/f") == "auto"
    with pytest.raises(ConfigError, match=r"config.toml:3: feeds\[0\].identity must be one of"):
        parse('[[feeds]]\nurl = "https://a.example/f"\nidentity = "magic"\n', tmp_path)
