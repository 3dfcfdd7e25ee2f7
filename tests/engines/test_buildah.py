"""buildah --runtime ocirun (and runc, the reference): a RUN step runs
through the runtime, and the image it commits holds what the step wrote."""
from engine_helpers import IMAGE, need, run


def test_a_build_whose_run_step_writes_a_file(podman, runtimes, runtime_name, tmp_path):
    need("buildah")
    (tmp_path / "Containerfile").write_text(f"FROM {IMAGE}\nRUN echo built-by-{runtime_name} > /built.txt\n")
    run(["buildah", *podman.storage, "bud", "--runtime", runtimes[runtime_name], "--isolation", "oci",
         "--network", "none", "-t", "localhost/ocirun-built:latest", str(tmp_path)], env=podman.env, timeout=300)
    assert podman("run", "--rm", "localhost/ocirun-built:latest", "cat", "/built.txt").stdout == \
        f"built-by-{runtime_name}\n"
    podman("rmi", "localhost/ocirun-built:latest")
