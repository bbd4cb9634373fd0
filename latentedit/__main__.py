"""``python -m latentedit`` (and ``torchrun -m latentedit``) runs the command line."""

from .cli import main

main()
