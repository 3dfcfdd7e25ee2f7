"""`ocirun spec`: write the default config.json (config.default_config) into a bundle."""
import json
import os

from ocirun.config import default_config, plain_config
from ocirun.errors import OcirunError

def write_spec(bundle_dir, rootless=False, args=None, plain=False):
    """Write the default config.json into bundle_dir (plain: config.plain_config's);
    never overwrite one."""
    path = os.path.join(bundle_dir, "config.json")
    config = plain_config(args) if plain else default_config(args, rootless=rootless)
    text = json.dumps(config, indent="\t") + "\n"
    try:
        # O_EXCL: the existence check and the create are one step, so a
        # concurrent writer cannot be clobbered.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise OcirunError(f"config.json already exists in {bundle_dir}") from None
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path
