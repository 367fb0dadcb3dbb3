"""What the command line prints, rendered with Rich (no Textual): training progress, the inside of a model, lists of
models and runs. The commands in `charwriter.__main__` compute; these show."""
