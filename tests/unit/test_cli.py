import signal

import pytest

from ocirun import cli
from ocirun.cli import parse_signal
from ocirun.errors import OcirunError


@pytest.mark.parametrize("text", ["SIGKILL", "KILL", "kill", "9"])
def test_signal_forms(text):
    assert parse_signal(text) == signal.SIGKILL


@pytest.mark.parametrize("text", ["SIGNOPE", "-1", "999", "", "1x"])
def test_bad_signals(text):
    with pytest.raises(OcirunError, match="invalid signal"):
        parse_signal(text)


def parse(*argv):
    from ocirun.cli import parse_args
    return parse_args(list(argv))


def test_globals_then_command_options_and_id():
    command, args = parse("--root", "/r", "--log-format=json", "run", "-d", "--bundle", "/b",
                          "--preserve-fds", "2", "web")
    assert command == "run"
    assert (args.root, args.log_format, args.detach, args.bundle, args.preserve_fds, args.id) == \
        ("/r", "json", True, "/b", 2, "web")


def test_defaults():
    command, args = parse("create", "c1")
    assert (args.root, args.bundle, args.pid_file, args.no_pivot, args.preserve_fds) == \
        ("/run/ocirun", ".", None, False, 0)


def test_kill_signal_is_optional():
    assert parse("kill", "c1")[1].signal is None
    _, args = parse("kill", "--all", "c1", "KILL")
    assert (args.all, args.signal) == (True, "KILL")


@pytest.mark.parametrize("argv, message", [
    (["--bogus"], "unknown option --bogus"),
    (["create", "--nope", "c"], "unknown option --nope for create"),
    (["create"], "create: missing id"),
    (["start", "a", "b"], "start: unexpected argument 'b'"),
    (["create", "--preserve-fds", "x", "c"], "option --preserve-fds takes a number"),
    (["--log-format", "xml", "list"], "option --log-format takes one of text, json"),
    (["frobnicate"], "No help topic for 'frobnicate'"),
])
def test_usage_errors(argv, message):
    from ocirun.cli import UsageError
    with pytest.raises(UsageError, match=message):
        parse(*argv)


def test_a_trailing_star_positional_takes_the_rest_options_included():
    from ocirun.cli import parse_args
    command, args = parse_args(["ps", "--format", "json", "box", "-o", "pid,comm"])
    assert (command, args.format, args.id, args.ps_args) == ("ps", "json", "box", ["-o", "pid,comm"])
    command, args = parse_args(["ps", "box"])
    assert args.ps_args == []


@pytest.mark.parametrize("text, size", [("1024", 1024), ("64k", 64 << 10), ("512m", 512 << 20), ("2G", 2 << 30),
                                        ("512mb", 512 << 20), ("-1", -1)])
def test_update_sizes(text, size):
    from ocirun.cli import parse_size
    assert parse_size(text, "--memory") == size


@pytest.mark.parametrize("text", ["1x", "", "m", "1.5g"])
def test_bad_update_sizes(text):
    from ocirun.cli import UsageError, parse_size
    with pytest.raises(UsageError, match="--memory takes a size"):
        parse_size(text, "--memory")


@pytest.mark.parametrize("text, seconds", [("5s", 5), ("500ms", 0.5), ("1m", 60), ("2", 2), ("1.5s", 1.5)])
def test_event_intervals(text, seconds):
    from ocirun.cli import _seconds
    assert _seconds(text, "--interval") == seconds


def test_runcs_global_flags_are_accepted():
    command, args = cli.parse_args(["--rootless", "true", "--criu", "/usr/sbin/criu", "--systemd-cgroup",
                                    "--log-format", "json", "state", "x"])
    assert (command, args.rootless, args.criu, args.systemd_cgroup) == ("state", "true", "/usr/sbin/criu", True)
    with pytest.raises(cli.UsageError, match="--rootless takes one of auto, true, false"):
        cli.parse_args(["--rootless", "maybe", "state", "x"])


def test_exec_flags_repeat():
    command, args = cli.parse_args(["exec", "-e", "A=1", "--env", "B=2", "--cap", "CAP_KILL", "-t",
                                    "--console-socket", "/s", "id", "sh", "-c", "echo -e x"])
    assert (command, args.env, args.cap, args.tty, args.id, args.args) == \
        ("exec", ["A=1", "B=2"], ["CAP_KILL"], True, "id", ["sh", "-c", "echo -e x"])


def test_checkpoint_says_it_is_not_supported(capsys):
    assert cli.run_cli(["checkpoint", "--image-path", "/x", "id"]) == 1
    assert "no CRIU support yet" in capsys.readouterr().err


def test_a_bug_is_one_line_not_a_traceback(monkeypatch, capfd, tmp_path):
    def broken(args, container_class):
        return {}["mode"]
    monkeypatch.setitem(cli.HANDLERS, "state", broken)
    assert cli.run_cli(["--root", str(tmp_path), "state", "x"]) == 1
    err = capfd.readouterr().err
    assert err == "ocirun: internal error: KeyError: 'mode' (a bug in ocirun: please report it)\n"
    assert cli.run_cli(["--root", str(tmp_path), "--debug", "state", "x"]) == 1
    assert "Traceback" in capfd.readouterr().err  # --debug shows where
