"""The plugin's shells: forms mapped to the config model (:mod:`.forms`), the macros (:mod:`.macros`), the scenario
steps (:mod:`.steps`), form choices (:mod:`.choices`), and what a run publishes (:mod:`.publish`). Entry points
(``python-runnables/*/runnable.py``, ``python-steps/*/step.py``, ``resource/choices.py``) import these modules."""
