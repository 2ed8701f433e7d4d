"""Hydra entry points: typed, read-only configs from dataclass schemas, and a headless GL set-up.

It lives in eval/ because both eval's and train's commands use it, and nothing imports train.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf


def run_app(name: str, schema: type, body: Callable, conf_dir: str | pathlib.Path) -> None:
    """Run `body(cfg)` as a hydra app with config `<conf_dir>/<name>.yaml` validated against `schema`.

    The YAML file only selects and overrides; the dataclass holds the fields and their defaults, so an
    unknown or mistyped key fails at start with hydra's message naming it. `cfg` reaches `body` as a
    frozen dataclass instance.
    """
    node = OmegaConf.structured(schema)
    # A frozen schema would make the nodes read-only while hydra composes overrides into them; freezing
    # comes back with the dataclass instance that `body` receives.
    _unfreeze(node)
    ConfigStore.instance().store(name=f"{name}_schema", node=node)

    @hydra.main(version_base="1.3", config_path=str(conf_dir), config_name=name)
    def _main(cfg) -> None:
        from envs.rendering import configure_gl

        configure_gl()
        body(OmegaConf.to_object(cfg))

    _main()


def _unfreeze(node) -> None:
    OmegaConf.set_readonly(node, False)
    for key in node:
        child = node._get_node(key)
        if isinstance(child, DictConfig):
            _unfreeze(child)
