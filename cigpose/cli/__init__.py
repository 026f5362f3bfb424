"""The console scripts, one module each; nothing else in the package imports from here.

Hydra commands (``key=value`` overrides, ``-m`` sweeps, ``--help``): ``cigpose-train``,
``cigpose-eval``, ``cigpose-show-batch``. Every other command takes argparse options
(:mod:`cigpose.cli.args`): ``--help`` lists them; an unknown one is a one-line error, exit 2.
"""
