"""``jaxnn info`` (versions, backend, devices) and ``jaxnn demo`` (the functional API without the trainer)."""

import argparse
import os
import platform
from typing import Any

import jaxnn
from jaxnn.cli import options

__all__ = ["add"]


def add(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    info = commands.add_parser("info", help="versions, JAX backend and devices", parents=parents,
                               description="Print versions, the JAX backend and the devices JAX sees.")
    info.set_defaults(run=info_command)
    demo = commands.add_parser("demo", help="the functional API in twenty lines (jax.grad + jit + optax)",
                               parents=parents,
                               description="Train a [30, 16, 1] MLP on breast cancer with a hand-written jitted step "
                               "(jaxnn.demo.functional_training).")
    demo.add_argument("--steps", type=options.positive_int, default=300, help="full-batch training steps (default: 300)")
    demo.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    demo.set_defaults(run=demo_command)


def info_command(args: argparse.Namespace) -> int:
    from importlib.metadata import PackageNotFoundError, version

    import jax

    versions = {"jaxnn": jaxnn.__version__, "python": platform.python_version()}
    for package in ("jax", "jaxlib", "optax", "flax", "chex", "numpy"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    for name, value in versions.items():
        print(f"{name:>10}: {value}")
    devices = jax.devices()
    print(f"{'backend':>10}: {jax.default_backend()}")
    print(f"{'devices':>10}: {len(devices)} x {devices[0].device_kind} ({', '.join(str(d) for d in devices)})")
    print(f"{'cpu cores':>10}: {os.cpu_count()}")
    print(f"{'XLA_FLAGS':>10}: {os.environ.get('XLA_FLAGS') or '(not set)'}")
    return 0


def demo_command(args: argparse.Namespace) -> int:
    from jaxnn import demo

    result = demo.functional_training(steps=args.steps, seed=args.seed,
                                      report=lambda step, loss: print(f"step {step:4d}  train loss {loss:.4f}"))
    print(f"test loss {result['test_loss']:.4f}  test accuracy {result['test_accuracy']:.3f}")
    return 0
