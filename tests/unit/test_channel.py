"""The channel between the parent and the container's processes, over a real
socketpair."""
from ocirun.process import channel as msg
from ocirun.process.channel import Channel


def test_an_error_sent_by_a_child_that_left_a_message_unread_still_arrives():
    # A child that fails before awaiting CGROUP_JOINED exits with it unread;
    # the kernel then reports ECONNRESET once, ahead of the child's Error
    # (seen as "ocirun: [Errno 104] Connection reset by peer" from create).
    parent_end, child_end = Channel.pair()
    parent_end.signal(msg.CGROUP_JOINED)
    child_end.send_error("createContainer hook", 0, "hook exited with status 1")
    child_end.close()
    message = parent_end.receive()
    assert isinstance(message, msg.Error)
    assert message.message == "hook exited with status 1"
    assert parent_end.receive() is None
    parent_end.close()


def test_messages_keep_their_payload_and_passed_fd():
    parent_end, child_end = Channel.pair()
    child_end.send_init_pid(1234)
    child_end.send_ready(["a warning"], ["a note"])
    child_end.send_console_fd(0)
    assert parent_end.receive().pid == 1234
    ready = parent_end.receive()
    assert (ready.warnings, ready.notes) == (("a warning",), ("a note",))
    console = parent_end.receive()
    assert isinstance(console, msg.ConsoleFd) and console.fd > 2
    import os
    os.close(console.fd)
    child_end.close()
    parent_end.close()
