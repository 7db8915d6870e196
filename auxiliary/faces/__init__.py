"""The faces of the package, on top of everything else: what a person uses.

- ``cli``: ``python -m auxiliary VERB``, one module per verb (its flags and its call into one step function);
- ``webapp``: the web demo (``serve``); ``notebook``: what every notebook does first and last;
  ``runner``: the notebook series with papermill (``run-all``); ``colab``: the first cell of a notebook on Colab.
"""
