"""kctx: a kubeconfig per cluster, per-shell targets, and a guard for production."""

__version__ = "0.1.0"
