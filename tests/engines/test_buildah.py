"""buildah --runtime ocirun: a RUN step runs through ocirun, and the image
it commits holds what the step wrote."""
from engine_helpers import IMAGE, need, run


def test_a_build_whose_run_step_writes_a_file(podman, ocirun_binary, tmp_path):
    need("buildah")
    (tmp_path / "Containerfile").write_text(f"FROM {IMAGE}\nRUN echo built-by-ocirun > /built.txt\n")
    storage = podman.base[1:podman.base.index("--runtime")]  # the same store as podman's

    run(["buildah", *storage, "bud", "--runtime", ocirun_binary, "--isolation", "oci", "--network", "none",
         "-t", "localhost/ocirun-built:latest", str(tmp_path)], env=podman.env, timeout=300)
    assert podman("run", "--rm", "localhost/ocirun-built:latest", "cat", "/built.txt").stdout == "built-by-ocirun\n"
    podman("rmi", "localhost/ocirun-built:latest")
