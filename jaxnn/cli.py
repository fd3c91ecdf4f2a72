"""The ``jaxnn`` command line: ``jaxnn info``, ``jaxnn demo``."""

import argparse
import os
import platform
import sys
from collections.abc import Sequence


def _info(args: argparse.Namespace) -> int:
    import jax

    import jaxnn

    versions = {"jaxnn": jaxnn.__version__, "python": platform.python_version()}
    for package in ("jax", "jaxlib", "optax", "flax", "chex", "numpy"):
        try:
            from importlib.metadata import version

            versions[package] = version(package)
        except Exception:  # noqa: BLE001 - report, don't fail, on an odd install
            versions[package] = "not installed"
    for name, value in versions.items():
        print(f"{name:>10}: {value}")
    print(f"{'backend':>10}: {jax.default_backend()}")
    devices = jax.devices()
    print(f"{'devices':>10}: {len(devices)} x {devices[0].device_kind} ({', '.join(str(d) for d in devices)})")
    print(f"{'cpu cores':>10}: {os.cpu_count()}")
    flags = os.environ.get("XLA_FLAGS", "")
    print(f"{'XLA_FLAGS':>10}: {flags or '(not set)'}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    """The functional API end to end: mlp + loss + jax.grad + jit + optax on breast cancer."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    import jaxnn

    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=args.seed, stratify=y)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    x_train, x_test = [jnp.asarray((a - mean) / std, jnp.float32) for a in (x_train, x_test)]
    y_train, y_test = jnp.asarray(y_train), jnp.asarray(y_test)

    model = jaxnn.mlp([x_train.shape[1], 16, 1], activation="relu")
    params = model.init(jax.random.key(args.seed))
    opt = jaxnn.optimizer("sgd", learning_rate=0.1, momentum=0.9)
    opt_state = opt.init(params)

    def loss_fn(params, x, y):
        return jaxnn.losses.binary_cross_entropy(model.apply(params, x), y)

    @jax.jit
    def step(params, opt_state):
        loss, grads = jax.value_and_grad(loss_fn)(params, x_train, y_train)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    for i in range(1, args.steps + 1):
        params, opt_state, loss = step(params, opt_state)
        if i % max(1, args.steps // 5) == 0 or i == args.steps:
            print(f"step {i:4d}  train loss {float(loss):.4f}")
    test_loss = float(loss_fn(params, x_test, y_test))
    test_accuracy = float(jaxnn.losses.accuracy(model.apply(params, x_test), y_test))
    print(f"test loss {test_loss:.4f}  test accuracy {test_accuracy:.3f}  ({len(np.asarray(y_test))} examples)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jaxnn", description="Neural networks as pure JAX functions.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    info = commands.add_parser("info", help="versions, JAX backend and devices", description="Print versions, the JAX backend and devices.")
    info.set_defaults(run=_info)
    demo = commands.add_parser(
        "demo",
        help="the functional API in a few lines: train an MLP on breast cancer",
        description="Train a [30, 16, 1] MLP with jax.grad + jit + optax on scikit-learn's breast cancer data.",
    )
    demo.add_argument("--steps", type=int, default=300, help="full-batch training steps (default: 300)")
    demo.add_argument("--seed", type=int, default=0, help="seed for the split and the initialization (default: 0)")
    demo.set_defaults(run=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
