"""scriptgen: turn a task spec into a runnable, tested fine-tuning project."""

__version__ = "0.1.0"
