"""One module per command: each reads its inputs, calls the method core and the models, and writes its output
folder all-or-nothing. Each takes one request object (``SampleRequest``, ``EditRequest``...) and is called by the
thin CLI in :mod:`latentedit.cli`, or directly from Python."""
