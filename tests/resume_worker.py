"""A fit or a sweep with a checkpoint directory, for tests/test_resume.py to interrupt and resume.

``python tests/resume_worker.py fit|sweep CHECKPOINT_DIR OUT.npz``: trains (continuing from what
CHECKPOINT_DIR holds) and saves every array of the result in OUT.npz.
"""

import signal
import sys

import jax
import numpy as np

import jaxnn


def main(kind: str, directory: str, out: str) -> None:
    jaxnn.cache.enable_compilation_cache()  # a restarted process loads the programs instead of compiling them
    data = jaxnn.datasets.load("digits", seed=0)
    if kind == "fit":
        result = jaxnn.fit(
            jaxnn.mlp([64, 32, 10], dropout=0.1),
            data,
            key=0,
            num_epochs=400,
            batch_size=32,
            learning_rate=3e-3,
            early_stopping=jaxnn.EarlyStopping(patience=1000),
            progress=False,
            checkpoint_dir=directory,
            checkpoint_every=2,
        )
        arrays = {f"history_{name}": values for name, values in result.history.items()}
        arrays |= {f"params_{i}": leaf for i, leaf in enumerate(jax.tree.leaves(result.params))}
        arrays["counters"] = np.asarray([result.best_epoch, result.stopped_epoch])
    else:
        result = jaxnn.sweep(
            jaxnn.mlp([64, 32, 10]),
            data,
            space={"learning_rate": list(np.geomspace(1e-3, 0.3, 8))},
            key=0,
            seeds=2,
            num_epochs=200,
            batch_size=32,
            max_parallel=8,
            num_chunks=50,
            early_stopping=jaxnn.EarlyStopping(patience=20),
            progress=False,
            checkpoint_dir=directory,
        )
        arrays = {f"table_{name}": np.asarray(column) for name, column in result.table.items()}
        arrays |= {f"curves_{name}": values for name, values in result.curves.items()}
        arrays |= {
            f"params_{row}_{i}": leaf
            for row in range(len(result))
            for i, leaf in enumerate(jax.tree.leaves(result.params(row)))
        }
    np.savez(
        out,
        **{
            name: np.asarray(value).astype(str) if np.asarray(value).dtype == object else value
            for name, value in arrays.items()
        },
    )


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C, even if the parent ignores SIGINT
    main(*sys.argv[1:4])
